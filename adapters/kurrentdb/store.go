// Package kurrentdb implements the event store port (event.Store) on KurrentDB
// (formerly EventStoreDB) through its gRPC client. Our streams map 1:1 onto KurrentDB
// streams; the all-stream is KurrentDB's $all restricted to our stream prefixes; a
// cursor is the "commit:prepare" pair of $all positions.
package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// DefaultStreamPrefix is the prefix of every scanledger stream (architecture §5): the
// all-stream and subscriptions see only streams that start with it.
const DefaultStreamPrefix = "scan-"

// Store is an event.Store on a KurrentDB node or cluster.
//
// Set its exported fields before the first call; their zero values are the defaults.
type Store struct {
	// StreamPrefixes are the streams that make up the all-stream (ReadAll,
	// Subscribe). nil means DefaultStreamPrefix; an empty, non-nil list means every
	// non-system stream (not starting with "$").
	StreamPrefixes []string
	// Logger is where the Store logs what the caller cannot see: skipped foreign
	// events, refusals that will not heal, client rebuilds. nil means slog.Default().
	// The KurrentDB client's own lines go to it at debug level: the client logs every
	// cancelled subscription at error level, and the Store logs what matters itself.
	Logger *slog.Logger
	// MaxAppendSize makes the Store refuse appends above this many bytes itself, with
	// ETOOLARGE, to match the server's MaxAppendSize. Zero: the Store checks only the
	// per-event limit and maps the server's own refusal to ETOOLARGE (the server's
	// setting differs by version and configuration, and the client cannot read it).
	MaxAppendSize int

	conn *conn
	// retryDelay is the first pause before a dropped subscription resubscribes; it
	// doubles on each failure in a row, up to maxRetryDelay.
	retryDelay time.Duration
	// maxEvent is the server's largest event, checked before sending so that an
	// oversized append fails clearly (ETOOLARGE) without a round trip.
	maxEvent int
}

func (s *Store) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Store) prefixes() []string {
	if s.StreamPrefixes == nil {
		return []string{DefaultStreamPrefix}
	}
	return s.StreamPrefixes
}

var _ event.Store = (*Store)(nil)

// DefaultMaxAppendSize is KurrentDB's default limit on the size of one append up to
// 25.0 (MaxAppendSize, 1 MiB; 25.1 raised it to 256 MiB). A size counts each event's
// data, metadata and twice its type's length. The largest Completed event exceeds it
// (docs/kurrentdb.md), so such servers need a larger MaxAppendSize.
const DefaultMaxAppendSize = 1 << 20

// maxEventSize is KurrentDB's largest event (16 MiB less the log record overhead).
const maxEventSize = 16<<20 - 10000

// Open connects to KurrentDB. connectionString is an esdb:// or kurrentdb:// URL
// (e.g. "esdb://admin:changeit@db:2113?tlsCAFile=/etc/kurrentdb/ca.crt"); the client
// connects lazily, so an unreachable server shows up on the first call, not here.
func Open(ctx context.Context, connectionString string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open kurrentdb: %w", err)
	}
	// The v4 client only knows the esdb schemes; kurrentdb:// is the same URL grammar.
	connStr := connectionString
	for _, p := range [][2]string{{"kurrentdb+discover://", "esdb+discover://"}, {"kurrentdb://", "esdb://"}, {"kdb://", "esdb://"}} {
		if rest, ok := strings.CutPrefix(connStr, p[0]); ok {
			connStr = p[1] + rest
			break
		}
	}
	conf, err := esdb.ParseConnectionString(connStr)
	if err != nil {
		return nil, fmt.Errorf("open kurrentdb: %w", domain.Errorf(domain.EINVALID, "bad connection string (want esdb:// or kurrentdb://): %s", redact(err.Error(), connStr)))
	}
	s := &Store{retryDelay: 200 * time.Millisecond, maxEvent: maxEventSize}
	conf.Logger = func(level esdb.LogLevel, format string, args ...any) {
		s.log().Debug("kurrentdb client: "+fmt.Sprintf(format, args...), "level", string(level))
	}
	s.conn = &conn{conf: *conf, backoff: firstRebuildDelay, log: s.log, fault: map[string]error{}}
	if err := s.conn.newClient(); err != nil {
		return nil, err
	}
	return s, nil
}

// redact keeps a parse error's detail but not the password it may echo.
func redact(msg, connStr string) string {
	_, rest, _ := strings.Cut(connStr, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if _, pass, ok := strings.Cut(rest[:at], ":"); ok && pass != "" {
			msg = strings.ReplaceAll(msg, pass, "xxxxx")
		}
	}
	return msg
}

// Close closes the client connection.
func (s *Store) Close() error { return s.conn.close() }

// Ready reports whether KurrentDB serves us: nil when a stream read succeeds and no
// refusal that will not heal (credentials, rights) is outstanding; an EUNAVAILABLE
// error otherwise.
func (s *Store) Ready(ctx context.Context) error {
	probe := "scanledger-readiness"
	if len(s.prefixes()) > 0 {
		probe = s.prefixes()[0] + "readiness"
	}
	if _, _, err := s.readStream(ctx, probe, 0, 1); err != nil {
		return fmt.Errorf("kurrentdb: %w", err)
	}
	return s.conn.faults()
}

// Append implements event.Store.
//
// KurrentDB checks the expected version atomically, but it only deduplicates event IDs
// for retries at the same expected version, and only for a while. So Append first reads
// the stream to honour the port's idempotency rules (a retry returns the first result
// even after the stream moved on; a stored ID elsewhere in the stream is a conflict).
// That read covers the whole stream: cheap for scanledger's short per-aggregate
// streams, not meant for streams of many thousands of events.
//
// Limits, both from KurrentDB having neither an index by event ID nor multi-stream
// transactions: event IDs are NOT checked across streams, and the read-then-append of
// two concurrent appends with Any carrying the same new IDs is left to the server's
// own (best-effort) deduplication. Exact expected versions stay strictly atomic.
func (s *Store) Append(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, error) {
	if err := s.validateAppend(stream, expected, events); err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	stored, last, err := s.readStream(ctx, stream, 0, 0)
	if err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	if res, done, err := checkStored(stored, last, expected, events); done || err != nil {
		if err != nil {
			return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
		}
		return res, nil
	}

	proposed := make([]esdb.EventData, len(events))
	for i, e := range events {
		id, _ := uuid.Parse(e.ID) // validated above
		proposed[i] = esdb.EventData{
			EventID:     id,
			EventType:   e.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        e.Data,
			Metadata:    wrapMetadata(e.SchemaVersion, e.Metadata),
		}
	}
	var rev esdb.ExpectedRevision
	switch expected {
	case event.NoStream:
		rev = esdb.NoStream{}
	case event.Any:
		rev = esdb.Any{}
	default:
		rev = esdb.Revision(uint64(expected))
	}
	wr, err := do(ctx, s.conn, "append", func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
		wr, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, proposed...)
		if esdbCode(err) == esdb.ErrorCodeWrongExpectedVersion {
			return nil, errWrongVersion{err}
		}
		return wr, err
	})
	var wrong errWrongVersion
	if errors.As(err, &wrong) {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, event.ErrWrongExpectedVersion)
	}
	if err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	return event.AppendResult{
		// NextExpectedVersion is the revision of the last event written.
		Version:  int64(wr.NextExpectedVersion),
		Position: formatCursor(esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}),
	}, nil
}

// errWrongVersion carries the server's answer through conn.call unclassified.
type errWrongVersion struct{ error }

// checkStored applies the idempotency rules to the stream's stored events (ours only)
// and last, the revision of the stream's last event of any kind (NoStream when none):
// done is true when the append is a retry of one already stored (res is its result).
// Versions come from the events, never from slice indexes: a truncated ($tb,
// $maxCount, $maxAge, soft delete) stream does not start at revision 0, and skipped
// foreign events leave holes.
func checkStored(stored []event.Recorded, last, expected int64, events []event.Data) (res event.AppendResult, done bool, err error) {
	at := make(map[string]int, len(stored))
	for i, e := range stored {
		at[e.ID] = i
	}
	first, seen := at[events[0].ID]
	anyStored := seen
	for _, e := range events[1:] {
		if _, ok := at[e.ID]; ok {
			anyStored = true
		}
	}
	if seen && (expected == event.Any || stored[first].Version == expected+1) {
		retry := first+len(events) <= len(stored)
		for i := 0; retry && i < len(events); i++ {
			retry = stored[first+i].ID == events[i].ID && stored[first+i].Version == stored[first].Version+int64(i)
		}
		if retry {
			last := stored[first+len(events)-1]
			return event.AppendResult{Version: last.Version, Position: last.Position}, true, nil
		}
	}
	if expected != event.Any && expected != last {
		return event.AppendResult{}, false, event.ErrWrongExpectedVersion
	}
	if anyStored {
		return event.AppendResult{}, false, domain.Errorf(domain.ECONFLICT, "event ids already stored in the stream")
	}
	return event.AppendResult{}, false, nil
}

// nilUUID is replaced by the client with a random ID, which would break idempotency.
const nilUUID = "00000000-0000-0000-0000-000000000000"

func (s *Store) validateAppend(stream string, expected int64, events []event.Data) error {
	if err := event.CheckAppend(stream, expected, events); err != nil {
		return err
	}
	total := 0
	for _, e := range events {
		// KurrentDB event IDs are UUIDs; the canonical form must round-trip exactly.
		if id, err := uuid.Parse(e.ID); err != nil || id.String() != e.ID {
			return domain.Errorf(domain.EINVALID, "event id %q is not a lowercase canonical UUID", e.ID)
		}
		if e.ID == nilUUID {
			return domain.Errorf(domain.EINVALID, "event id is the all-zero UUID")
		}
		if strings.HasPrefix(e.Type, "$") {
			return domain.Errorf(domain.EINVALID, "event type %q: types starting with $ are KurrentDB's own", e.Type)
		}
		// What KurrentDB counts: data, metadata (our envelope included) and the type
		// twice (it measures UTF-16).
		size := len(e.Data) + len(wrapMetadata(e.SchemaVersion, e.Metadata)) + 2*utf16Len(e.Type)
		if size > s.maxEvent {
			return domain.Errorf(domain.ETOOLARGE, "event %s is %d bytes; the event store takes at most %d per event", e.ID, size, s.maxEvent)
		}
		total += size
	}
	if s.MaxAppendSize > 0 && total > s.MaxAppendSize {
		return domain.Errorf(domain.ETOOLARGE, "append of %d bytes; the event store takes at most %d per append", total, s.MaxAppendSize)
	}
	return nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// ReadStream implements event.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, max int) ([]event.Recorded, error) {
	if err := event.CheckRead(from, max); err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	got, _, err := s.readStream(ctx, stream, from, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return got, nil
}

// readStream reads up to max of our events (all with max 0) from version from, and
// returns the revision of the last event it saw of any kind (NoStream when none).
// Foreign events are skipped, so it reads on until it has max of ours or the end.
func (s *Store) readStream(ctx context.Context, stream string, from int64, max int) ([]event.Recorded, int64, error) {
	out, last := []event.Recorded{}, event.NoStream
	for {
		count := uint64(max - len(out))
		if max == 0 {
			count = math.MaxInt64 // "all": what the .NET client sends, safe for any server
		}
		from := from
		page, err := do(ctx, s.conn, "read", func(ctx context.Context, c *esdb.Client) ([]*esdb.ResolvedEvent, error) {
			return readPage(func() (*esdb.ReadStream, error) {
				return c.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(uint64(from))}, count)
			})
		})
		if err != nil {
			return nil, 0, err
		}
		for _, re := range page {
			if re.Event == nil {
				continue
			}
			last = int64(re.Event.EventNumber)
			from = last + 1
			if r, ok := s.ours(re.Event); ok {
				out = append(out, r)
			}
		}
		if max == 0 || uint64(len(page)) < count || len(out) >= max {
			return out, last, nil
		}
	}
}

// readPage drains one read; a stream that does not exist is an empty page. It runs
// inside do, so its Recv calls are guarded too.
func readPage(open func() (*esdb.ReadStream, error)) ([]*esdb.ResolvedEvent, error) {
	rs, err := open()
	if err != nil {
		if esdbCode(err) == esdb.ErrorCodeResourceNotFound {
			return nil, nil
		}
		return nil, err
	}
	defer rs.Close()
	var page []*esdb.ResolvedEvent
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return page, nil
		}
		if err != nil {
			if esdbCode(err) == esdb.ErrorCodeResourceNotFound {
				return nil, nil
			}
			return nil, err
		}
		page = append(page, re)
	}
}

// ReadAll implements event.Store. $all holds system events and other applications'
// streams too, so it reads pages until it has max of ours or reaches the end.
func (s *Store) ReadAll(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	if err := event.CheckRead(0, max); err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	pos, err := parseCursor(after)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	out := []event.Recorded{}
	page := uint64(max) + 1 // reads from a position include it: one more to skip it
	for {
		var from esdb.AllPosition = esdb.Start{}
		if pos != nil {
			from = *pos
		}
		events, err := do(ctx, s.conn, "read $all", func(ctx context.Context, c *esdb.Client) ([]*esdb.ResolvedEvent, error) {
			return readPage(func() (*esdb.ReadStream, error) {
				return c.ReadAll(ctx, esdb.ReadAllOptions{From: from}, page)
			})
		})
		if err != nil {
			return nil, fmt.Errorf("read all: %w", err)
		}
		moved := false
		for _, re := range events {
			if re.Event == nil {
				continue
			}
			p := re.Event.Position
			if pos != nil && !after0(p, *pos) {
				continue
			}
			pos, moved = &p, true
			if !s.ourStream(re.Event.StreamID) {
				continue
			}
			if r, ok := s.ours(re.Event); ok {
				out = append(out, r)
				if len(out) == max {
					return out, nil
				}
			}
		}
		if uint64(len(events)) < page {
			return out, nil
		}
		if !moved {
			// A full page without one event past the cursor would loop forever.
			return nil, fmt.Errorf("read all: $all did not advance past %s", formatCursor(*pos))
		}
	}
}

// after0 reports whether a lies strictly after b in $all.
func after0(a, b esdb.Position) bool {
	if a.Commit != b.Commit {
		return a.Commit > b.Commit
	}
	return a.Prepare > b.Prepare
}

// ourStream reports whether a stream belongs to the all-stream this Store shows.
func (s *Store) ourStream(stream string) bool {
	if strings.HasPrefix(stream, "$") {
		return false
	}
	if len(s.prefixes()) == 0 {
		return true
	}
	for _, p := range s.prefixes() {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}

// ours decodes an event of one of our streams, or reports (and logs) that it is not
// ours: KurrentDB puts its own events in any stream (a tombstone "$streamDeleted", a
// "$>" link, "$metadata"), and other writers can append to our streams. Reading on
// past them keeps ReadAll and Subscribe from stalling at such an event forever.
func (s *Store) ours(e *esdb.RecordedEvent) (event.Recorded, bool) {
	reason := ""
	if strings.HasPrefix(e.EventType, "$") {
		reason = "system event type"
	}
	r, err := toRecorded(e)
	if reason == "" && err != nil {
		reason = err.Error()
	}
	if reason != "" {
		s.log().Warn("kurrentdb: skipped an event that is not scanledger's", "stream", e.StreamID, "type", e.EventType,
			"id", e.EventID.String(), "revision", e.EventNumber, "position", string(formatCursor(e.Position)), "reason", reason)
		return event.Recorded{}, false
	}
	return r, true
}

// Subscribe implements event.Store with a server-side filtered $all subscription,
// resubscribing after the last delivered position whenever it drops. A drop that will
// not heal by itself (credentials, rights) is logged and shown by Ready, and retried
// at the longest backoff, as an operator may fix it without restarting us.
func (s *Store) Subscribe(ctx context.Context, after event.Cursor, h event.Handler) error {
	pos, err := parseCursor(after)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	filter := &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: s.prefixes()}
	if len(s.prefixes()) == 0 {
		// The client demands prefixes or a regex: this one excludes system streams.
		filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: `^[^$]`}
	}
	delay := s.retryDelay
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var from esdb.AllPosition = esdb.Start{}
		if pos != nil {
			from = *pos // exclusive for subscriptions
		}
		before := pos
		var sub *esdb.Subscription
		client, err := s.conn.current()
		if err == nil {
			sctx := leaderContext(ctx)
			sub, err = guard(sctx, client, func() (*esdb.Subscription, error) {
				return client.SubscribeToAll(sctx, esdb.SubscribeToAllOptions{From: from, Filter: filter})
			})
			if err == nil {
				s.conn.succeeded(client, "subscribe")
				err = s.pump(ctx, sub, h, &pos)
				sub.Close()
				var stop stopError
				if errors.As(err, &stop) {
					return stop.err
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if closedClient(err) {
				s.conn.markDead(client, err)
			}
			err = s.conn.classify("subscribe", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pos != before {
			delay = s.retryDelay // it made progress: the next drop is a new incident
		}
		if permanent(err) {
			// Logged once (per distinct error) and shown by Ready until a subscription
			// is confirmed again.
			s.conn.setFault("subscribe", err)
			delay = maxRetryDelay
		} else {
			s.log().Info("kurrentdb: subscription dropped; resubscribing", "after", string(formatPos(pos)), "in", delay, "err", err)
		}
		// Back off so that a dead server is not hammered, then resume after the last
		// position.
		t := time.NewTimer(delay)
		delay = min(2*delay, maxRetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func formatPos(p *esdb.Position) event.Cursor {
	if p == nil {
		return event.Start
	}
	return formatCursor(*p)
}

// maxRetryDelay caps the backoff between resubscriptions.
const maxRetryDelay = 5 * time.Second

// stopError marks an error that ends Subscribe instead of a resubscription: the
// handler's own error.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }

// maxDelivery caps the events handed to the handler in one call.
const maxDelivery = 512

// pump delivers a subscription's events until it drops, advancing *pos past every
// delivered (or filtered out) event. The client hands over one event per Recv, so a
// goroutine receives ahead and each call of the handler gets every event already
// received (up to maxDelivery) without waiting for more: a handler that paces itself
// would otherwise be held to one event per pause through a whole backlog.
func (s *Store) pump(ctx context.Context, sub *esdb.Subscription, h event.Handler, pos **esdb.Position) error {
	stop := make(chan struct{})
	defer close(stop) // the caller's sub.Close ends the receiver's Recv
	received := make(chan *esdb.SubscriptionEvent, maxDelivery)
	go func() {
		for {
			ev := sub.Recv()
			select {
			case received <- ev:
			case <-stop:
				return
			}
			if ev.SubscriptionDropped != nil {
				return
			}
		}
	}()
	for {
		ev := <-received
		next := *pos
		var batch []event.Recorded // a new slice each time: the handler may keep it
		var dropped error
	collect:
		for {
			if ev.SubscriptionDropped != nil {
				dropped = fmt.Errorf("subscription dropped: %w", ev.SubscriptionDropped.Error)
				break
			}
			if ev.EventAppeared != nil && ev.EventAppeared.Event != nil {
				e := ev.EventAppeared.Event
				p := e.Position
				if next == nil || after0(p, *next) { // a resubscription never repeats, but be safe
					if s.ourStream(e.StreamID) {
						if r, ok := s.ours(e); ok {
							batch = append(batch, r)
						}
					}
					next = &p
				}
			}
			if len(batch) == maxDelivery {
				break
			}
			select {
			case ev = <-received:
			default:
				break collect
			}
		}
		if len(batch) > 0 {
			// Events already buffered in the stream keep arriving after cancellation:
			// stop at once rather than hand them to the handler.
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := h(ctx, batch); err != nil {
				return stopError{err}
			}
		}
		*pos = next
		if dropped != nil {
			return dropped
		}
	}
}

func toRecorded(e *esdb.RecordedEvent) (event.Recorded, error) {
	sv, meta, err := unwrapMetadata(e.UserMetadata)
	if err != nil {
		return event.Recorded{}, fmt.Errorf("event %s in %s: %w", e.EventID, e.StreamID, err)
	}
	data := e.Data
	if data == nil {
		data = []byte{}
	}
	return event.Recorded{
		ID:            e.EventID.String(),
		StreamID:      e.StreamID,
		Version:       int64(e.EventNumber),
		Position:      formatCursor(e.Position),
		Type:          e.EventType,
		SchemaVersion: sv,
		Data:          data,
		Metadata:      meta,
		RecordedAt:    e.CreatedDate,
	}, nil
}

// KurrentDB has no field for our schema version, so the stored metadata wraps ours:
// {"schemaVersion":N,"metadata":<our metadata bytes verbatim>}. It stays valid JSON for
// KurrentDB's own tools, and is built and parsed by hand so that our bytes (which the
// hash chain covers) round-trip exactly, whitespace and key order included.
const (
	metaPrefix = `{"schemaVersion":`
	metaField  = `,"metadata":`
)

func wrapMetadata(schemaVersion int, meta []byte) []byte {
	b := strconv.AppendInt([]byte(metaPrefix), int64(schemaVersion), 10)
	if len(meta) > 0 {
		b = append(b, metaField...)
		b = append(b, meta...)
	}
	return append(b, '}')
}

func unwrapMetadata(b []byte) (int, []byte, error) {
	rest, ok := strings.CutPrefix(string(b), metaPrefix)
	if !ok || !strings.HasSuffix(rest, "}") {
		return 0, nil, errors.New("metadata is not a scanledger envelope")
	}
	rest = rest[:len(rest)-1]
	num, meta, hasMeta := strings.Cut(rest, metaField)
	sv, err := strconv.Atoi(num)
	if err != nil {
		return 0, nil, fmt.Errorf("metadata envelope: bad schema version %q", num)
	}
	if !hasMeta {
		return sv, []byte{}, nil
	}
	return sv, []byte(meta), nil
}

func formatCursor(p esdb.Position) event.Cursor {
	return event.Cursor(strconv.FormatUint(p.Commit, 10) + ":" + strconv.FormatUint(p.Prepare, 10))
}

// parseCursor returns nil for event.Start.
func parseCursor(c event.Cursor) (*esdb.Position, error) {
	if c == event.Start {
		return nil, nil
	}
	commit, prepare, ok := strings.Cut(string(c), ":")
	cp, err1 := strconv.ParseUint(commit, 10, 64)
	pp, err2 := strconv.ParseUint(prepare, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, domain.Errorf(domain.EINVALID, "malformed cursor %q", string(c))
	}
	if cp < pp {
		// KurrentDB rejects such a position; no event has one.
		return nil, domain.Errorf(domain.EINVALID, "malformed cursor %q: commit before prepare", string(c))
	}
	return &esdb.Position{Commit: cp, Prepare: pp}, nil
}
