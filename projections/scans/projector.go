// Package scans is the read model the PWA's scan pages and analysts read: houses,
// scans, rooms, house_room_images, house_scan_summary and agents_runs, with the original
// houseScanner table and column names (contracts section 4). Projector builds it from
// scan events; the query functions read it.
package scans

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
)

// Name is the projection's checkpoint key.
const Name = "scans"

// Projector projects scan events into the scans read model. It is a
// projections.Batcher: events fold into a per-transaction segment that Flush writes
// with a few set-based statements, which gives the same rows as applying events one at
// a time (a test holds it to that) with far fewer round trips.
type Projector struct {
	// Cipher opens the personal fields (the address) of scan events; a forgotten
	// user's show as personal.Erased. Without one, an event with sealed personal data
	// fails to project.
	Cipher *personal.Cipher

	seg *segment
}

// NewProjector returns a scans projector; set Cipher before it runs.
func NewProjector() *Projector { return &Projector{seg: newSegment()} }

// Name is Name.
func (p *Projector) Name() string { return Name }

// Begin drops whatever a rolled-back transaction buffered.
func (p *Projector) Begin() { p.seg = newSegment() }

// Handle folds one event into the segment.
func (p *Projector) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	return p.HandlePrepared(ctx, tx, e, p.Prepare(e))
}

// decoded is an event as Prepare leaves it for HandlePrepared.
type decoded struct {
	se  projections.ScanEvent
	ok  bool
	err error
}

// Prepare decodes e's payload and metadata, a third of the projection's work, which
// the runner does for the next delivery while it writes this one.
func (p *Projector) Prepare(e event.Recorded) any {
	se, ok, err := projections.DecodeScanEvent(e)
	return decoded{se, ok, err}
}

// HandlePrepared folds one event, decoded by Prepare, into the segment.
func (p *Projector) HandlePrepared(ctx context.Context, tx *projections.Tx, e event.Recorded, prepared any) error {
	d := prepared.(decoded)
	se, ok, err := d.se, d.ok, d.err
	if !ok || err != nil {
		return err // !ok: another aggregate's stream
	}
	scanID, at := se.ScanID, se.At
	// Reading a key is no side effect: it only decides what this projection writes.
	ev, err := scan.Open(ctx, p.Cipher, se.Event)
	if err != nil {
		return fmt.Errorf("scan %s version %d: %w", scanID, e.Version, err)
	}
	if p.seg.barrier(scanID, ev) {
		if err := p.Flush(ctx, tx); err != nil {
			return err
		}
		p.Begin()
	}
	switch v := ev.(type) {
	case scan.Created:
		return p.seg.created(scanID, v, e.Version, at)
	case scan.ImagesUploaded:
		return p.seg.uploaded(scanID, v, e.Version, at)
	case scan.ProcessingStarted:
		return p.seg.started(scanID, v, e.Version, at)
	case scan.ProgressReported:
		s := p.seg.scan(scanID)
		s.set(colProgress, func(r *scanRow) { r.progress = ptr(v.Progress) })
		s.set(colStage, func(r *scanRow) { r.stage = ptr(v.Stage) })
		s.touch(e.Version, at)
	case scan.Completed:
		return p.seg.completed(scanID, e.ID, v, e.Version, at)
	case scan.Failed:
		s := p.seg.scan(scanID)
		if !v.WillRetry {
			s.set(colStatus, func(r *scanRow) { r.status = "failed" })
			s.set(colFailureCode, func(r *scanRow) { r.failureCode = ptr(v.Code) })
			s.set(colFailureReason, func(r *scanRow) { r.failureReason = ptr(v.Reason) })
			s.set(colFinishedAt, func(r *scanRow) { r.finishedAt = ptr(at) })
		}
		// A failure that will be retried changes nothing users see: the next attempt's
		// ProcessingStarted follows in the same append.
		s.touch(e.Version, at)
	case scan.Deleted:
		return p.seg.deleted(ctx, tx, scanID)
	}
	return nil
}

// Scan row columns that events change, as bits of scanDelta.dirty; version and
// updated_at change with every event.
const (
	colStatus = 1 << iota
	colInputs
	colHouseTypes
	colStartedAt
	colFinishedAt
	colAttempt
	colProgress
	colStage
	colFailureCode
	colFailureReason
	colLast // not a column: the bit after the last one
)

// scanRow holds the values of the columns events change.
type scanRow struct {
	status        string
	inputs        []byte // JSON
	houseTypes    []string
	startedAt     *time.Time
	finishedAt    *time.Time
	attempt       int
	progress      *int
	stage         *string
	failureCode   *string
	failureReason *string
	version       int64
	updatedAt     time.Time
}

type roomRow struct {
	id, label string
	ordinal   int
	types     []string
	createdAt time.Time
}

type imageRow struct {
	id, roomID string
	img        scan.Image
	ordinal    int
	createdAt  time.Time
}

type runRow struct {
	id      string
	attempt int
	run     scan.AgentRun
	cost    any // decimal text or nil
	at      time.Time
}

type summaryRow struct {
	id                         string
	summary, prosCons, costSum json.RawMessage
	schemaVersion              string
	at                         time.Time
}

type roomTypes struct {
	roomID string
	types  []string
}

// scanDelta is what a segment does to one scan.
type scanDelta struct {
	id string
	// inserted: Created is in this segment, so the row is inserted whole and nothing
	// of the scan is in the database yet.
	inserted  bool
	houseID   string
	userID    string
	createdAt time.Time

	row   scanRow
	dirty int
	// replaced: an upload in this segment replaced the children; rooms, images, runs
	// and summary below are the whole new set.
	replaced bool
	rooms    []*roomRow
	images   []imageRow
	// roomTypes update rooms already in the database (no upload in this segment).
	roomTypes []roomTypes
	runs      []runRow
	summary   *summaryRow
	// gone: Deleted is in this segment; nothing above is written.
	gone bool
}

func (s *scanDelta) set(col int, f func(*scanRow)) {
	f(&s.row)
	s.dirty |= col
}

func (s *scanDelta) touch(version int64, at time.Time) {
	s.row.version = version
	s.row.updatedAt = at
}

// houseOp is a change to the house of a scan, in event order; the house id is resolved
// at flush time for scans created before the segment.
type houseOp struct {
	scanID string
	// create: Created ensures the house exists (inserted with these values if not).
	create    bool
	houseID   string
	userID    string
	address   *string
	houseType *string
	at        time.Time
}

type segment struct {
	scans  map[string]*scanDelta
	order  []*scanDelta
	houses []houseOp
	// deletes are run last in Flush; gone and goneHouses hold their scans and houses.
	deletes    []*scanDelta
	gone       map[string]bool
	goneHouses map[string]bool
}

func newSegment() *segment {
	return &segment{scans: map[string]*scanDelta{}, gone: map[string]bool{}, goneHouses: map[string]bool{}}
}

func (g *segment) scan(id string) *scanDelta {
	s, ok := g.scans[id]
	if !ok {
		s = &scanDelta{id: id}
		g.scans[id] = s
		g.order = append(g.order, s)
	}
	return s
}

func (g *segment) empty() bool { return len(g.order) == 0 && len(g.houses) == 0 && len(g.deletes) == 0 }

// barrier says whether ev must see the segment written first. Deletions run at the end
// of a flush, which is only right while nothing later in the segment depends on them:
// an event of a deleted scan must find it gone (and fail, or be created anew), and a
// scan created for the house of a deleted scan must find that house deleted if it was
// its last scan.
func (g *segment) barrier(scanID string, ev scan.Event) bool {
	if g.gone[scanID] {
		return true
	}
	c, ok := ev.(scan.Created)
	return ok && !c.NewHouse && g.goneHouses[c.HouseID]
}

// deleted drops what the segment would write for the scan and queues its deletion.
func (g *segment) deleted(ctx context.Context, tx *projections.Tx, scanID string) error {
	s := g.scan(scanID)
	if !s.inserted {
		err := tx.QueryRow(ctx, `SELECT house_id FROM scans WHERE id = $1`, scanID).Scan(&s.houseID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("find house of scan %s: %w", scanID, err)
		}
	}
	s.gone = true
	g.gone[scanID] = true
	if s.houseID != "" {
		g.goneHouses[s.houseID] = true
	}
	g.deletes = append(g.deletes, s)
	return nil
}

func (g *segment) created(scanID string, v scan.Created, version int64, at time.Time) error {
	if v.ScanID != "" && v.ScanID != scanID {
		return fmt.Errorf("created: scanId %s differs from its stream", v.ScanID)
	}
	if !domain.ValidID(v.HouseID) || !domain.ValidID(v.UserID) {
		return fmt.Errorf("created: houseId and userId must be UUIDs")
	}
	if _, ok := g.scans[scanID]; ok {
		return fmt.Errorf("created: scan %s already has events in this batch", scanID)
	}
	s := g.scan(scanID)
	s.inserted = true
	s.houseID, s.userID, s.createdAt = v.HouseID, v.UserID, at
	s.row = scanRow{status: "queued", inputs: []byte("{}"), houseTypes: []string{}}
	s.touch(version, at)
	op := houseOp{scanID: scanID, create: true, houseID: v.HouseID, userID: v.UserID, at: at}
	if v.Address != "" {
		op.address = ptr(v.Address)
	}
	g.houses = append(g.houses, op)
	return nil
}

func (g *segment) uploaded(scanID string, v scan.ImagesUploaded, version int64, at time.Time) error {
	s := g.scan(scanID)
	s.replaced = true
	s.rooms, s.images, s.roomTypes, s.runs, s.summary = nil, nil, nil, nil, nil
	for _, r := range v.Rooms {
		if !domain.ValidID(r.RoomID) {
			return fmt.Errorf("images uploaded: room id %q is not a UUID", r.RoomID)
		}
		s.rooms = append(s.rooms, &roomRow{id: r.RoomID, label: r.Label, ordinal: r.Ordinal, types: []string{}, createdAt: at})
		for i, img := range r.Images {
			if !domain.ValidID(img.ImageID) {
				return fmt.Errorf("images uploaded: image id %q is not a UUID", img.ImageID)
			}
			s.images = append(s.images, imageRow{id: img.ImageID, roomID: r.RoomID, img: img, ordinal: i, createdAt: at})
		}
	}
	s.set(colStatus, func(r *scanRow) { r.status = "queued" })
	s.set(colInputs, func(r *scanRow) { r.inputs = []byte("null") })
	s.set(colHouseTypes, func(r *scanRow) { r.houseTypes = []string{} })
	s.set(colStartedAt, func(r *scanRow) { r.startedAt = nil })
	s.set(colFinishedAt, func(r *scanRow) { r.finishedAt = nil })
	s.set(colProgress, func(r *scanRow) { r.progress = nil })
	s.set(colStage, func(r *scanRow) { r.stage = nil })
	s.set(colFailureCode, func(r *scanRow) { r.failureCode = nil })
	s.set(colFailureReason, func(r *scanRow) { r.failureReason = nil })
	s.touch(version, at)
	if v.Address != "" {
		g.houses = append(g.houses, houseOp{scanID: scanID, address: ptr(v.Address), at: at})
	}
	return nil
}

func (g *segment) started(scanID string, v scan.ProcessingStarted, version int64, at time.Time) error {
	inputs, err := json.Marshal(v.InputsSnapshot)
	if err != nil {
		return fmt.Errorf("processing started: %w", err)
	}
	s := g.scan(scanID)
	s.set(colStatus, func(r *scanRow) { r.status = "running" })
	s.set(colStartedAt, func(r *scanRow) { r.startedAt = ptr(at) })
	s.set(colFinishedAt, func(r *scanRow) { r.finishedAt = nil })
	s.set(colAttempt, func(r *scanRow) { r.attempt = v.Attempt })
	s.set(colInputs, func(r *scanRow) { r.inputs = inputs })
	s.set(colProgress, func(r *scanRow) { r.progress = ptr(0) })
	s.set(colStage, func(r *scanRow) { r.stage = nil })
	s.set(colFailureCode, func(r *scanRow) { r.failureCode = nil })
	s.set(colFailureReason, func(r *scanRow) { r.failureReason = nil })
	s.touch(version, at)
	return nil
}

func (g *segment) completed(scanID, eventID string, v scan.Completed, version int64, at time.Time) error {
	s := g.scan(scanID)
	types := v.HouseTypes
	if types == nil {
		types = []string{}
	}
	s.set(colStatus, func(r *scanRow) { r.status = "succeeded" })
	s.set(colFinishedAt, func(r *scanRow) { r.finishedAt = ptr(at) })
	s.set(colHouseTypes, func(r *scanRow) { r.houseTypes = types })
	s.set(colProgress, func(r *scanRow) { r.progress = ptr(100) })
	s.touch(version, at)

	// Room types only ever land on this scan's rooms: the analyzer's room ids are not
	// trusted to name rooms of other scans (the original backend did).
	for _, rt := range v.Rooms {
		t := rt.RoomTypes
		if t == nil {
			t = []string{}
		}
		if s.replaced {
			for _, r := range s.rooms {
				if r.id == rt.RoomID {
					r.types = t
				}
			}
		} else if domain.ValidID(rt.RoomID) {
			s.roomTypes = append(s.roomTypes, roomTypes{roomID: rt.RoomID, types: t})
		}
	}
	for i, run := range v.AgentRuns {
		id := run.ID
		if id == "" {
			id = derivedID(eventID, "agent-run", fmt.Sprint(i))
		}
		if !domain.ValidID(id) {
			return fmt.Errorf("completed: agent run id %q is not a UUID", id)
		}
		if run.ModelID != "" && !domain.ValidID(run.ModelID) {
			return fmt.Errorf("completed: agent run %s: model id %q is not a UUID", id, run.ModelID)
		}
		cost, err := decimalArg(run.CostUSD)
		if err != nil {
			return fmt.Errorf("completed: agent run %s: %w", id, err)
		}
		s.runs = append(s.runs, runRow{id: id, attempt: v.Attempt, run: run, cost: cost, at: at})
	}
	sum := &summaryRow{
		id:            derivedID(eventID, "summary"),
		summary:       orJSON(v.ClientSummary, "{}"),
		prosCons:      orJSON(v.ProsCons, `{"pros":[],"cons":[]}`),
		costSum:       v.CostInfo,
		schemaVersion: v.PipelineVersion,
		at:            at,
	}
	if s.summary != nil {
		sum.id = s.summary.id // an upsert keeps the row it updates
	}
	s.summary = sum
	if len(v.HouseTypes) > 0 {
		g.houses = append(g.houses, houseOp{scanID: scanID, houseType: ptr(v.HouseTypes[0]), at: at})
	}
	return nil
}

// derivedID is a name-based (version 5) UUID of parts: rows that have no id of their
// own get the same id on every replay.
func derivedID(parts ...string) string {
	h := sha1.New()
	h.Write([]byte("scanledger/projections/scans"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// decimalArg checks a decimal string and returns the value to bind: nil for "", the
// text otherwise, with at most 30 fractional digits (the original numeric(65,30);
// truncating here keeps SQLite and Postgres equal).
func decimalArg(s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	digits, frac := 0, -1
	for i, c := range s {
		switch {
		case c == '-' && i == 0:
		case c == '.' && frac < 0:
			frac = 0
		case c >= '0' && c <= '9':
			digits++
			if frac >= 0 {
				frac++
			}
		default:
			return nil, fmt.Errorf("cost %q is not a decimal", s)
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("cost %q is not a decimal", s)
	}
	if frac > 30 {
		s = s[:len(s)-(frac-30)]
	}
	return NormalizeDecimal(s), nil
}

// NormalizeDecimal prints a decimal the way Prisma's Decimal does for the PWA: no
// leading zeros, no trailing fractional zeros ("0.0012", where Postgres's numeric(65,30)
// reads back as "0.001200000000000000000000000000").
func NormalizeDecimal(s string) string {
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	if whole == "" {
		whole = "0"
	}
	out := whole
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

func orJSON(raw json.RawMessage, def string) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(def)
	}
	return raw
}

// nullJSON binds an absent JSON value as SQL NULL (the original's nullable jsonb).
func nullJSON(d projections.Dialect, raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return d.JSON(raw)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ptr[T any](v T) *T { return &v }
