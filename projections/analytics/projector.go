// Package analytics is the read model analysts query beyond the scans tables: one row
// per processing attempt (scan_attempts) and one per checklist item the latest
// successful analysis was asked about (scan_checklist_items). Projector builds them
// from scan events under its own checkpoint, so a database that predates it catches up
// from the first event; the query functions summarise them identically on SQLite and
// PostgreSQL.
package analytics

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
)

// Name is the projection's checkpoint key.
const Name = "analytics"

// Checklist item outcomes. Booleans are phrased as problems (true means "needs
// attention"), so false passes and true fails; categorical and conditional items have
// an answer but no verdict.
const (
	Pass        = "pass"
	Fail        = "fail"
	Answered    = "answered"
	NotAssessed = "not_assessed"
)

// Item scopes.
const (
	ScopeHouse   = "house"
	ScopeRoom    = "room"
	ScopeProduct = "product"
)

// Projector projects scan events into scan_attempts and scan_checklist_items.
type Projector struct{}

// NewProjector returns an analytics projector.
func NewProjector() *Projector { return &Projector{} }

// Name is Name.
func (p *Projector) Name() string { return Name }

// Handle applies one event.
func (p *Projector) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	se, ok, err := projections.DecodeScanEvent(e)
	if !ok || err != nil {
		return err
	}
	scanID, ev, at := se.ScanID, se.Event, se.At
	d := tx.Dialect()
	switch v := ev.(type) {
	case scan.ProcessingStarted:
		_, err = tx.Exec(ctx, `INSERT INTO scan_attempts (scan_id, attempt, retry, house_type, status, will_retry, started_at)
			VALUES ($1, $2, $3, $4, 'running', false, $5)
			ON CONFLICT (scan_id, attempt) DO UPDATE SET retry = excluded.retry, house_type = excluded.house_type,
				status = 'running', failure_code = NULL, failure_reason = NULL, will_retry = false,
				started_at = excluded.started_at, finished_at = NULL, duration_ms = NULL`,
			scanID, v.Attempt, v.Retry, v.InputsSnapshot.HouseType, d.Time(at))
	case scan.Completed:
		var houseType *string
		if len(v.HouseTypes) > 0 {
			houseType = &v.HouseTypes[0]
		}
		if err = finish(ctx, tx, scanID, v.Attempt, at, "succeeded", houseType, nil, nil, false); err != nil {
			return err
		}
		err = p.items(ctx, tx, scanID, v, at)
	case scan.Failed:
		err = finish(ctx, tx, scanID, v.Attempt, at, "failed", nil, &v.Code, &v.Reason, v.WillRetry)
	case scan.ImagesUploaded:
		_, err = tx.Exec(ctx, `DELETE FROM scan_checklist_items WHERE scan_id = $1`, scanID)
	case scan.Deleted:
		if _, err = tx.Exec(ctx, `DELETE FROM scan_checklist_items WHERE scan_id = $1`, scanID); err == nil {
			_, err = tx.Exec(ctx, `DELETE FROM scan_attempts WHERE scan_id = $1`, scanID)
		}
	}
	if err != nil {
		return fmt.Errorf("analytics %s: %w", e.Type, err)
	}
	return nil
}

// finish settles an attempt. Its duration is computed here, from the two events'
// times, so both engines store the same integer.
func finish(ctx context.Context, tx *projections.Tx, scanID string, attempt int, at time.Time,
	status string, houseType, code, reason *string, willRetry bool) error {
	var started time.Time
	err := tx.QueryRow(ctx, `SELECT started_at FROM scan_attempts WHERE scan_id = $1 AND attempt = $2`,
		scanID, attempt).Scan(projections.ScanTime(&started))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("attempt %d of scan %s never started", attempt, scanID)
	}
	if err != nil {
		return err
	}
	d := tx.Dialect()
	dur := at.UTC().Truncate(time.Millisecond).Sub(started).Milliseconds()
	_, err = tx.Exec(ctx, `UPDATE scan_attempts SET status = $3, house_type = coalesce($4, house_type),
			failure_code = $5, failure_reason = $6, will_retry = $7, finished_at = $8, duration_ms = $9
		WHERE scan_id = $1 AND attempt = $2`,
		scanID, attempt, status, houseType, code, reason, willRetry, d.Time(at), dur)
	return err
}

type itemRow struct {
	scope, roomID, itemID, itemType, outcome string
	value                                    *string
}

// items replaces the scan's checklist item rows with the outcome of every item the
// analysis was asked about (the client summary's checklist_metadata) or answered.
func (p *Projector) items(ctx context.Context, tx *projections.Tx, scanID string, v scan.Completed, at time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM scan_checklist_items WHERE scan_id = $1`, scanID); err != nil {
		return err
	}
	rows, err := itemOutcomes(v)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	d := tx.Dialect()
	values := make([][]any, len(rows))
	for i, r := range rows {
		values[i] = []any{scanID, v.Attempt, r.scope, r.roomID, r.itemID, r.itemType, r.outcome, r.value, d.Time(at)}
	}
	return tx.ExecValues(ctx, `INSERT INTO scan_checklist_items
		(scan_id, attempt, scope, room_id, item_id, item_type, outcome, value, assessed_at)`, "", values)
}

// itemOutcomes derives one row per item and room from a Completed event. Unreadable
// summaries or results give no rows rather than a parked event: they are the
// analyzer's to get right, and the scan itself is still projected.
func itemOutcomes(v scan.Completed) ([]itemRow, error) {
	var sum analysis.ClientSummary
	var res analysis.Result
	if len(v.ClientSummary) > 0 && json.Unmarshal(v.ClientSummary, &sum) != nil {
		return nil, nil
	}
	if len(v.Result) > 0 && json.Unmarshal(v.Result, &res) != nil {
		return nil, nil
	}
	notAssessed := make(map[string]bool, len(res.NotAssessed))
	for _, k := range res.NotAssessed {
		notAssessed[k] = true
	}
	var out []itemRow
	out = append(out, scopeRows(ScopeHouse, "", sum.ChecklistMetadata.House, res.HouseChecklist, notAssessed)...)
	rooms := map[string]analysis.RoomResult{}
	for _, r := range res.Rooms {
		rooms[r.RoomID] = r
	}
	// Rooms the analyzer reported on, or named as not assessed.
	for _, k := range res.NotAssessed {
		for _, prefix := range []string{"room:", "product:"} {
			if rest, ok := strings.CutPrefix(k, prefix); ok {
				if id, _, ok := strings.Cut(rest, ":"); ok {
					if _, seen := rooms[id]; !seen {
						rooms[id] = analysis.RoomResult{RoomID: id}
					}
				}
			}
		}
	}
	ids := make([]string, 0, len(rooms))
	for id := range rooms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := rooms[id]
		out = append(out, scopeRows(ScopeRoom, id, sum.ChecklistMetadata.Rooms, r.Issues, notAssessed)...)
		out = append(out, scopeRows(ScopeProduct, id, sum.ChecklistMetadata.Products, r.Products, notAssessed)...)
	}
	return out, nil
}

// scopeRows gives the rows of one scope (and room): every item named in meta or
// answered in ev.
func scopeRows(scope, roomID string, meta map[string]analysis.ItemMetadata, ev analysis.Evaluation,
	notAssessed map[string]bool) []itemRow {
	ids := map[string]string{} // id -> type
	for id, m := range meta {
		ids[id] = m.Type
	}
	for id := range ev.Booleans {
		if ids[id] == "" {
			ids[id] = "boolean"
		}
	}
	for id := range ev.Categoricals {
		if ids[id] == "" {
			ids[id] = "categorical"
		}
	}
	for id := range ev.Conditionals {
		if ids[id] == "" {
			ids[id] = "conditional"
		}
	}
	prefix := scope + ":"
	if roomID != "" {
		prefix += roomID + ":"
	}
	out := make([]itemRow, 0, len(ids))
	for id, typ := range ids {
		r := itemRow{scope: scope, roomID: roomID, itemID: id, itemType: typ, outcome: NotAssessed}
		if b, ok := ev.Booleans[id]; ok && !notAssessed[prefix+id] {
			r.outcome, r.value = Pass, ptr("false")
			if b {
				r.outcome, r.value = Fail, ptr("true")
			}
		} else if c, ok := ev.Categoricals[id]; ok && !notAssessed[prefix+id] {
			r.outcome, r.value = Answered, ptr(c)
		} else if c, ok := ev.Conditionals[id]; ok && !notAssessed[prefix+id] {
			r.outcome, r.value = Answered, ptr("absent")
			if c.Exists {
				r.value = ptr(c.Condition)
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].itemID < out[j].itemID })
	return out
}

func ptr[T any](v T) *T { return &v }
