package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain/event"
)

// loadCheckpoint returns the projection's position, creating its row at the start.
func loadCheckpoint(ctx context.Context, db DB, name string, now time.Time) (event.Cursor, error) {
	if _, err := db.ExecContext(ctx, `INSERT INTO projection_checkpoints (name, position, updated_at)
		VALUES ($1, '', $2) ON CONFLICT (name) DO NOTHING`, name, db.Dialect.Time(now)); err != nil {
		return "", fmt.Errorf("create checkpoint: %w", err)
	}
	var pos string
	if err := db.QueryRowContext(ctx, `SELECT position FROM projection_checkpoints WHERE name = $1`, name).Scan(&pos); err != nil {
		return "", fmt.Errorf("read checkpoint: %w", err)
	}
	return event.Cursor(pos), nil
}

// moveCheckpoint sets the position to "to" only if it still is "from": a compare-and-
// set, so two runners of one projection (a lock lost mid-batch) cannot both commit the
// same events.
func moveCheckpoint(ctx context.Context, tx *Tx, name string, from, to event.Cursor, now time.Time) error {
	res, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $1, updated_at = $2
		WHERE name = $3 AND position = $4`, string(to), tx.Dialect().Time(now), name, string(from))
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if n != 1 {
		return ErrCheckpointMoved
	}
	return nil
}

// loadVersions returns, for the streams of events, the last version this projection
// applied. Cursors are opaque, so the runner cannot tell an old event from a new one by
// its position; a stream's version can.
func loadVersions(ctx context.Context, tx *Tx, name string, events []event.Recorded) (map[string]int64, error) {
	seen := make(map[string]int64, len(events))
	var streams []string
	for _, e := range events {
		if _, ok := seen[e.StreamID]; !ok {
			seen[e.StreamID] = -1
			streams = append(streams, e.StreamID)
		}
	}
	applied := make(map[string]int64, len(streams))
	d := tx.Dialect()
	rows, err := tx.Query(ctx, `SELECT stream_id, version FROM projection_streams
		WHERE projection = $1 AND `+d.AnyOf("stream_id", "$2"), name, d.Strings(streams))
	if err != nil {
		return nil, fmt.Errorf("read stream versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var v int64
		if err := rows.Scan(&s, &v); err != nil {
			return nil, fmt.Errorf("read stream versions: %w", err)
		}
		applied[s] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stream versions: %w", err)
	}
	return applied, nil
}

// saveVersions records the last version applied per stream of events.
func saveVersions(ctx context.Context, tx *Tx, name string, events []event.Recorded) error {
	last := make(map[string]int64, len(events))
	var order []string
	for _, e := range events {
		if _, ok := last[e.StreamID]; !ok {
			order = append(order, e.StreamID)
		}
		last[e.StreamID] = e.Version
	}
	rows := make([][]any, 0, len(order))
	for _, s := range order {
		rows = append(rows, []any{name, s, last[s]})
	}
	err := tx.ExecValues(ctx, `INSERT INTO projection_streams (projection, stream_id, version)`,
		`ON CONFLICT (projection, stream_id) DO UPDATE SET version = excluded.version`, rows)
	if err != nil {
		return fmt.Errorf("write stream versions: %w", err)
	}
	return nil
}

// parkedAgain ends every insert into parked_events: an event parked again is waiting
// for a decision again, whatever was decided before.
const parkedAgain = `ON CONFLICT (projection, event_id) DO UPDATE SET error = excluded.error,
	parked_at = excluded.parked_at, resolution = NULL, resolved_at = NULL, note = NULL`

func parkEvent(ctx context.Context, tx *Tx, name string, e event.Recorded, cause error, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO parked_events
		(projection, event_id, stream_id, version, position, type, error, parked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) `+parkedAgain,
		name, e.ID, e.StreamID, e.Version, string(e.Position), e.Type, cause.Error(), tx.Dialect().Time(now))
	if err != nil {
		return fmt.Errorf("park event %s: %w", e.ID, err)
	}
	return nil
}

// Checkpoint returns a projection's position and when it last moved; Start and the
// zero time when it never ran.
func Checkpoint(ctx context.Context, db DB, name string) (event.Cursor, time.Time, error) {
	var pos string
	var at time.Time
	err := db.QueryRowContext(ctx, `SELECT position, updated_at FROM projection_checkpoints WHERE name = $1`, name).
		Scan(&pos, ScanTime(&at))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return event.Start, time.Time{}, nil
		}
		return "", time.Time{}, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	return event.Cursor(pos), at, nil
}

// Parked is an event a projection gave up on, and what an operator decided about it.
type Parked struct {
	Projection string
	EventID    string
	StreamID   string
	Version    int64
	Position   event.Cursor
	Type       string
	Error      string
	ParkedAt   time.Time
	// Resolution is "" while it waits for a decision, then "retried" or "skipped".
	Resolution string
	ResolvedAt *time.Time
	Note       string
}

const parkedColumns = `projection, event_id, stream_id, version, position, type, error, parked_at,
	coalesce(resolution, ''), resolved_at, coalesce(note, '')`

func scanParked(s interface{ Scan(...any) error }) (Parked, error) {
	var p Parked
	var pos string
	err := s.Scan(&p.Projection, &p.EventID, &p.StreamID, &p.Version, &pos, &p.Type, &p.Error,
		ScanTime(&p.ParkedAt), &p.Resolution, ScanNullTime(&p.ResolvedAt), &p.Note)
	p.Position = event.Cursor(pos)
	return p, err
}

// ListParked returns the events parked by a projection ("" for every projection) that
// wait for a decision, oldest first.
func ListParked(ctx context.Context, db DB, projection string) ([]Parked, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+parkedColumns+` FROM parked_events
		WHERE ($1 = '' OR projection = $1) AND resolution IS NULL ORDER BY parked_at, projection, event_id`, projection)
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	defer rows.Close()
	var out []Parked
	for rows.Next() {
		p, err := scanParked(rows)
		if err != nil {
			return nil, fmt.Errorf("list parked events: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	return out, nil
}

// ErrNotParked is returned for an event no projection parked.
var ErrNotParked = errors.New("no such parked event")

// GetParked returns one parked event of a projection ("" for any), resolved or not.
func GetParked(ctx context.Context, db DB, projection, eventID string) (Parked, error) {
	p, err := scanParked(db.QueryRowContext(ctx, `SELECT `+parkedColumns+` FROM parked_events
		WHERE ($1 = '' OR projection = $1) AND event_id = $2 ORDER BY projection LIMIT 1`, projection, eventID))
	if errors.Is(err, sql.ErrNoRows) {
		return Parked{}, fmt.Errorf("parked event %s: %w", eventID, ErrNotParked)
	}
	if err != nil {
		return Parked{}, fmt.Errorf("parked event %s: %w", eventID, err)
	}
	return p, nil
}

// Retry applies a parked event with p (the projection as it runs live, fixed) in one
// transaction and records it as retried. The live runner may be running: the
// transaction first takes the projection's checkpoint row, as each of the runner's
// does, so the two never interleave. The runner's checkpoint and version guard already
// count the event as handled, so nothing applies it twice. When p fails again nothing
// changes and the error is returned.
func Retry(ctx context.Context, db DB, p Projection, e event.Recorded, note string, now time.Time) error {
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("retry %s: %w", e.ID, err)
	}
	defer sqlTx.Rollback()
	tx := newTx(sqlTx, db.Dialect, nil)
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET name = name WHERE name = $1`, p.Name()); err != nil {
		return fmt.Errorf("retry %s: hold the checkpoint: %w", e.ID, err)
	}
	var pending int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM parked_events WHERE projection = $1 AND event_id = $2 AND resolution IS NULL`,
		p.Name(), e.ID).Scan(&pending); err != nil {
		return fmt.Errorf("retry %s: %w", e.ID, err)
	}
	if pending == 0 {
		return fmt.Errorf("retry %s: %w (or it was resolved already)", e.ID, ErrNotParked)
	}
	b, batched := p.(Batcher)
	if batched {
		b.Begin()
	}
	if err := p.Handle(ctx, tx, e); err != nil {
		return fmt.Errorf("retry %s: still fails: %w", e.ID, err)
	}
	if batched {
		if err := b.Flush(ctx, tx); err != nil {
			return fmt.Errorf("retry %s: still fails: %w", e.ID, err)
		}
	}
	if err := resolve(ctx, tx, p.Name(), e.ID, "retried", note, now); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("retry %s: commit: %w", e.ID, err)
	}
	return nil
}

// Skip records that a parked event stays unapplied, when and why.
func Skip(ctx context.Context, db DB, projection, eventID, note string, now time.Time) error {
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("skip %s: %w", eventID, err)
	}
	defer sqlTx.Rollback()
	if err := resolve(ctx, newTx(sqlTx, db.Dialect, nil), projection, eventID, "skipped", note, now); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("skip %s: commit: %w", eventID, err)
	}
	return nil
}

func resolve(ctx context.Context, tx *Tx, projection, eventID, resolution, note string, now time.Time) error {
	res, err := tx.Exec(ctx, `UPDATE parked_events SET resolution = $1, resolved_at = $2, note = $3
		WHERE projection = $4 AND event_id = $5 AND resolution IS NULL`,
		resolution, tx.Dialect().Time(now), note, projection, eventID)
	if err != nil {
		return fmt.Errorf("%s %s: %w", resolution, eventID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s %s: %w (or it was resolved already)", resolution, eventID, ErrNotParked)
	}
	return nil
}
