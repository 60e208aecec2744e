package scans

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/projections"
)

// Scan is one scan with everything GET /scans/:id shows (contracts section 1.5-11).
type Scan struct {
	ID                 string
	HouseID            string
	UserID             string // the owner; callers check it before showing anything
	Status             string // queued, running, succeeded, failed
	InputsSnapshot     json.RawMessage
	DetectedHouseTypes []string // never nil
	StartedAt          *time.Time
	FinishedAt         *time.Time
	CreatedAt          time.Time
	Attempt            int
	Progress           *int
	Stage              *string
	FailureCode        *string
	FailureReason      *string
	Version            int64 // the scan stream's version the row reflects
	UpdatedAt          time.Time

	House     House
	Rooms     []Room     // by ordinal
	Images    []Image    // every image of the scan, by room ordinal then ordinal
	Summary   *Summary   // nil until the scan succeeded
	AgentRuns []AgentRun // most recently started first
}

// House is the scanned house.
type House struct {
	ID        string
	UserID    string
	Address   *string
	HouseType *string
	Status    string // idle, active, archived
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Room is a group of images.
type Room struct {
	ID                string
	ScanID            string
	Ordinal           int
	Label             *string
	DetectedRoomTypes []string // never nil
	CreatedAt         time.Time
	Images            []Image // by ordinal
}

// Image is a stored photo. URL is the blob key, as stored; sign it before handing it to
// a browser.
type Image struct {
	ID          string
	ScanID      string
	RoomID      *string
	URL         string
	Tag         *string
	BlobKey     string
	ContentType string
	Bytes       int64
	SHA256      string
	Ordinal     int
	CreatedAt   time.Time
}

// Summary is the analysis result the summary page reads.
type Summary struct {
	ID            string
	ScanID        string
	SummaryJSON   json.RawMessage // the analyzer's client_summary
	ProsConsJSON  json.RawMessage // result.pros_cons; nil when NULL
	CostSummary   json.RawMessage // cost_info; nil when NULL
	SchemaVersion *string         // the pipeline version
	DerivedAt     time.Time
}

// AgentRun is one agent's usage.
type AgentRun struct {
	ID         string
	ScanID     string
	AgentName  string
	Model      *string
	Attempt    int
	TokensIn   int
	TokensOut  int
	CostUSD    *string // decimal text, e.g. "0.0012"
	CacheHit   bool
	StartedAt  *time.Time
	FinishedAt *time.Time
	CreatedAt  time.Time
}

// Ownership is what access checks and commands need to know about a scan.
type Ownership struct {
	ScanID  string
	UserID  string
	HouseID string
	Status  string
	Attempt int
	Version int64
}

func notFound() error { return domain.Errorf(domain.ENOTFOUND, "Scan not found") }

// Get returns a scan with its house, rooms, images, summary and agent runs, read in one
// snapshot. It returns a domain.ENOTFOUND error when there is no such scan.
func Get(ctx context.Context, db projections.DB, scanID string) (*Scan, error) {
	if !domain.ValidID(scanID) {
		return nil, notFound()
	}
	list, err := load(ctx, db, "s.id = $1", "scan_id = $1", scanID)
	if err != nil {
		return nil, fmt.Errorf("get scan %s: %w", scanID, err)
	}
	if len(list) == 0 {
		return nil, notFound()
	}
	return &list[0], nil
}

// ListByUser returns a user's scans, newest first, each with the same nested data as
// Get, in a fixed number of queries whatever the number of scans.
func ListByUser(ctx context.Context, db projections.DB, userID string) ([]Scan, error) {
	if !domain.ValidID(userID) {
		return []Scan{}, nil
	}
	list, err := load(ctx, db, "s.user_id = $1", "scan_id IN (SELECT id FROM scans WHERE user_id = $1)", userID)
	if err != nil {
		return nil, fmt.Errorf("list scans of user %s: %w", userID, err)
	}
	return list, nil
}

// Owner returns a scan's owner, house and status, or a domain.ENOTFOUND error.
func Owner(ctx context.Context, db projections.DB, scanID string) (Ownership, error) {
	if !domain.ValidID(scanID) {
		return Ownership{}, notFound()
	}
	o := Ownership{ScanID: scanID}
	err := db.QueryRowContext(ctx, `SELECT user_id, house_id, status, attempt, version FROM scans WHERE id = $1`, scanID).
		Scan(&o.UserID, &o.HouseID, &o.Status, &o.Attempt, &o.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return Ownership{}, notFound()
	}
	if err != nil {
		return Ownership{}, fmt.Errorf("scan owner %s: %w", scanID, err)
	}
	return o, nil
}

// CountOtherScans returns how many scans of a house there are besides exceptScanID
// (DELETE /scans/:id deletes the house with its last scan).
func CountOtherScans(ctx context.Context, db projections.DB, houseID, exceptScanID string) (int, error) {
	if !domain.ValidID(houseID) {
		return 0, nil
	}
	if !domain.ValidID(exceptScanID) {
		exceptScanID = "00000000-0000-0000-0000-000000000000"
	}
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM scans WHERE house_id = $1 AND id <> $2`, houseID, exceptScanID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count scans of house %s: %w", houseID, err)
	}
	return n, nil
}

// load reads the scans matching scanWhere (on alias s) and their children matching
// childWhere, with five queries in one read snapshot, and nests them.
func load(ctx context.Context, db projections.DB, scanWhere, childWhere string, arg any) ([]Scan, error) {
	d := db.Dialect
	tx, err := db.BeginTx(ctx, d.ReadTx())
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var list []Scan
	byID := map[string]*Scan{}
	err = each(ctx, tx, `SELECT s.id, s.house_id, s.user_id, s.status, s.inputs_snapshot, `+
		d.StringsJSON("s.detected_house_types")+`, s.started_at, s.finished_at, s.created_at, s.attempt,
		s.progress, s.stage, s.failure_code, s.failure_reason, s.version, s.updated_at,
		h.id, h.user_id, h.address, h.house_type, h.status, h.created_at, h.updated_at
		FROM scans s JOIN houses h ON h.id = s.house_id
		WHERE `+scanWhere+` ORDER BY s.created_at DESC, s.id`, arg, func(rows *sql.Rows) error {
		var s Scan
		var progress sql.NullInt64
		var stage, code, reason sql.NullString
		var addr, htype sql.NullString
		h := &s.House
		if err := rows.Scan(&s.ID, &s.HouseID, &s.UserID, &s.Status, projections.ScanJSON(&s.InputsSnapshot),
			projections.ScanStrings(&s.DetectedHouseTypes), projections.ScanNullTime(&s.StartedAt),
			projections.ScanNullTime(&s.FinishedAt), projections.ScanTime(&s.CreatedAt), &s.Attempt,
			&progress, &stage, &code, &reason, &s.Version, projections.ScanTime(&s.UpdatedAt),
			&h.ID, &h.UserID, &addr, &htype, &h.Status, projections.ScanTime(&h.CreatedAt),
			projections.ScanTime(&h.UpdatedAt)); err != nil {
			return err
		}
		if progress.Valid {
			s.Progress = ptr(int(progress.Int64))
		}
		s.Stage, s.FailureCode, s.FailureReason = strPtr(stage), strPtr(code), strPtr(reason)
		h.Address, h.HouseType = strPtr(addr), strPtr(htype)
		s.Rooms, s.Images, s.AgentRuns = []Room{}, []Image{}, []AgentRun{}
		list = append(list, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read scans: %w", err)
	}
	if len(list) == 0 {
		return list, nil
	}
	for i := range list {
		byID[list[i].ID] = &list[i]
	}

	roomAt := map[string][2]int{} // room id -> (scan index in list, room index)
	index := map[string]int{}
	for i := range list {
		index[list[i].ID] = i
	}
	err = each(ctx, tx, `SELECT id, scan_id, ordinal, label, `+d.StringsJSON("detected_room_types")+`, created_at
		FROM rooms WHERE `+childWhere+` ORDER BY scan_id, ordinal`, arg, func(rows *sql.Rows) error {
		var r Room
		var label sql.NullString
		if err := rows.Scan(&r.ID, &r.ScanID, &r.Ordinal, &label, projections.ScanStrings(&r.DetectedRoomTypes),
			projections.ScanTime(&r.CreatedAt)); err != nil {
			return err
		}
		r.Label = strPtr(label)
		r.Images = []Image{}
		if s := byID[r.ScanID]; s != nil {
			roomAt[r.ID] = [2]int{index[r.ScanID], len(s.Rooms)}
			s.Rooms = append(s.Rooms, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rooms: %w", err)
	}

	err = each(ctx, tx, `SELECT i.id, i.scan_id, i.room_id, i.url, i.tag, i.blob_key, i.content_type, i.bytes,
		i.sha256, i.ordinal, i.created_at
		FROM house_room_images i LEFT JOIN rooms r ON r.id = i.room_id
		WHERE i.`+childWhere+` ORDER BY i.scan_id, r.ordinal, i.ordinal, i.id`, arg, func(rows *sql.Rows) error {
		var im Image
		var room, tag sql.NullString
		if err := rows.Scan(&im.ID, &im.ScanID, &room, &im.URL, &tag, &im.BlobKey, &im.ContentType, &im.Bytes,
			&im.SHA256, &im.Ordinal, projections.ScanTime(&im.CreatedAt)); err != nil {
			return err
		}
		im.RoomID, im.Tag = strPtr(room), strPtr(tag)
		s := byID[im.ScanID]
		if s == nil {
			return nil
		}
		s.Images = append(s.Images, im)
		if im.RoomID != nil {
			if at, ok := roomAt[*im.RoomID]; ok {
				r := &list[at[0]].Rooms[at[1]]
				r.Images = append(r.Images, im)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read images: %w", err)
	}

	err = each(ctx, tx, `SELECT id, scan_id, summary_json, pros_cons_json, cost_summary, schema_version, derived_at
		FROM house_scan_summary WHERE `+childWhere, arg, func(rows *sql.Rows) error {
		var m Summary
		var sv sql.NullString
		if err := rows.Scan(&m.ID, &m.ScanID, projections.ScanJSON(&m.SummaryJSON), projections.ScanJSON(&m.ProsConsJSON),
			projections.ScanJSON(&m.CostSummary), &sv, projections.ScanTime(&m.DerivedAt)); err != nil {
			return err
		}
		m.SchemaVersion = strPtr(sv)
		if s := byID[m.ScanID]; s != nil {
			s.Summary = &m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read summaries: %w", err)
	}

	// "started_at IS NULL" first puts NULLs last in both engines (Postgres sorts them
	// first in DESC order, SQLite last).
	err = each(ctx, tx, `SELECT id, scan_id, agent_name, model, attempt, tokens_in, tokens_out, cost_usd, cache_hit,
		started_at, finished_at, created_at
		FROM agents_runs WHERE `+childWhere+` ORDER BY scan_id, started_at IS NULL, started_at DESC, id`, arg,
		func(rows *sql.Rows) error {
			var r AgentRun
			var model, cost sql.NullString
			var in, out sql.NullInt64
			if err := rows.Scan(&r.ID, &r.ScanID, &r.AgentName, &model, &r.Attempt, &in, &out, &cost, &r.CacheHit,
				projections.ScanNullTime(&r.StartedAt), projections.ScanNullTime(&r.FinishedAt),
				projections.ScanTime(&r.CreatedAt)); err != nil {
				return err
			}
			r.Model = strPtr(model)
			r.TokensIn, r.TokensOut = int(in.Int64), int(out.Int64)
			if cost.Valid {
				r.CostUSD = ptr(NormalizeDecimal(cost.String))
			}
			if s := byID[r.ScanID]; s != nil {
				s.AgentRuns = append(s.AgentRuns, r)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read agent runs: %w", err)
	}
	return list, nil
}

func each(ctx context.Context, tx *sql.Tx, query string, arg any, f func(*sql.Rows) error) error {
	return projections.EachRow(ctx, tx.QueryContext, query, []any{arg}, f)
}

func strPtr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}
