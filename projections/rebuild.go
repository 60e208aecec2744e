package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scanledger/scanledger/domain/backoff"
	"github.com/scanledger/scanledger/domain/event"
)

// A rebuild builds a projection's tables afresh beside the live ones, in a Copy: a schema
// of the same PostgreSQL database or a SQLite file of their own, each with the whole
// read-model schema and, above all, its own checkpoint and per-stream version guard.
// Resetting the live checkpoint alone would do nothing: the guard remembers every
// stream's last applied version and skips every event again. Swap then makes the copy
// live in one transaction.

// errReached ends a run bounded by boundedTo: the projection applied its target event.
var errReached = errors.New("projection reached its target position")

// boundedTo returns store as a runner should see it to stop at target: Subscribe delivers
// events up to and including the one at target and then returns errReached (at once
// when target is Start). seen, when not nil, counts the events delivered. Cursors are
// opaque, so the end is recognised by equality: target must be a position the
// subscription will deliver (a checkpoint of a projection of the same store, not
// behind the subscription's start).
func boundedTo(store event.Store, target event.Cursor, seen *atomic.Int64) event.Store {
	return bounded{Store: store, target: target, seen: seen}
}

type bounded struct {
	event.Store
	target event.Cursor
	seen   *atomic.Int64
}

func (b bounded) Subscribe(ctx context.Context, after event.Cursor, h event.Handler) error {
	if b.target == event.Start {
		return errReached
	}
	return b.Store.Subscribe(ctx, after, func(ctx context.Context, batch []event.Recorded) error {
		end := -1
		for i, e := range batch {
			if e.Position == b.target {
				end = i
				break
			}
		}
		if end >= 0 {
			batch = batch[:end+1]
		}
		if err := h(ctx, batch); err != nil {
			return err
		}
		if b.seen != nil {
			b.seen.Add(int64(len(batch)))
		}
		if end >= 0 {
			return errReached
		}
		return nil
	})
}

// RunUntil applies r's events from its checkpoint up to target, with r's settings, and
// returns once the event at target is applied (or parked); nothing when it is there
// already. seen, if not nil, counts the events read. r serves this one run.
func RunUntil(ctx context.Context, r *Runner, target event.Cursor, seen *atomic.Int64) error {
	pos, _, err := Checkpoint(ctx, r.db, r.p.Name())
	if err != nil {
		return err
	}
	if pos == target {
		return nil
	}
	r.store = boundedTo(r.store, target, seen) // r is used up: it reads no further than target
	err = r.Run(ctx)
	if errors.Is(err, errReached) {
		return nil
	}
	return err
}

// Copy is a projection's tables rebuilt beside the live ones.
type Copy struct {
	// Name is the projection's checkpoint name, the same in the copy and live.
	Name string
	// Tables are the tables the projection owns, parents before children. Swap
	// replaces these and nothing else: accounts, sessions, checklists, the feed and the
	// job queue stay as they are.
	Tables []string
	// Views read only Tables; on PostgreSQL they move with them.
	Views []string
	// Schema holds the copy on PostgreSQL, File on SQLite.
	Schema string
	File   string
}

// Swap makes the copy live in one transaction, while the live projection may be
// running: it first holds the live checkpoint where it is (PostgreSQL: the row is
// locked, which the live runner's next commit waits for; SQLite: the write lock), then
// calls catchUp to bring the copy to exactly that position, then replaces the live
// tables with the copy's (PostgreSQL: the tables and views change schema, so readers see
// the old rows or the new ones, never a mix; SQLite: the rows are copied in the same
// transaction) and adds the events the rebuild parked to the live list. The live
// checkpoint and version guard stay valid, since the copy is where they say the live
// tables are, and the live runner carries on from them. The copy is gone afterwards.
func Swap(ctx context.Context, live DB, c Copy, catchUp func(ctx context.Context, target event.Cursor) error) error {
	if live.Dialect == Postgres {
		return swapPostgres(ctx, live, c, catchUp)
	}
	return swapSQLite(ctx, live, c, catchUp)
}

func swapPostgres(ctx context.Context, live DB, c Copy, catchUp func(context.Context, event.Cursor) error) error {
	tx, err := live.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("swap %s: %w", c.Name, err)
	}
	defer tx.Rollback()
	var pos, schema string
	err = tx.QueryRowContext(ctx, `SELECT position, current_schema() FROM projection_checkpoints WHERE name = $1 FOR UPDATE`, c.Name).
		Scan(&pos, &schema)
	if err != nil {
		return fmt.Errorf("swap %s: hold the live checkpoint (has the projection ever run?): %w", c.Name, err)
	}
	if err := catchUp(ctx, event.Cursor(pos)); err != nil {
		return fmt.Errorf("swap %s: catch up: %w", c.Name, err)
	}
	next := quoteIdent(c.Schema)
	if err := sameCheckpoint(ctx, tx, next+".projection_checkpoints", c.Name, pos); err != nil {
		return err
	}
	if err := lockLive(ctx, tx, quoteIdent(schema), c); err != nil {
		return fmt.Errorf("swap %s: %w", c.Name, err)
	}
	old := quoteIdent(c.Schema + "_old")
	stmts := []string{"CREATE SCHEMA " + old}
	move := func(kind, name, from, to string) {
		stmts = append(stmts, fmt.Sprintf("ALTER %s %s.%s SET SCHEMA %s", kind, from, quoteIdent(name), to))
	}
	for _, v := range c.Views {
		move("VIEW", v, quoteIdent(schema), old)
	}
	for _, t := range c.Tables {
		move("TABLE", t, quoteIdent(schema), old)
		move("TABLE", t, next, quoteIdent(schema))
	}
	for _, v := range c.Views {
		move("VIEW", v, next, quoteIdent(schema))
	}
	// Dropped without CASCADE: a view this list does not know of that reads the old
	// tables makes the swap fail here, rather than vanish with them.
	for _, v := range c.Views {
		stmts = append(stmts, "DROP VIEW "+old+"."+quoteIdent(v))
	}
	var olds []string
	for _, t := range c.Tables {
		olds = append(olds, old+"."+quoteIdent(t))
	}
	stmts = append(stmts, "DROP TABLE "+strings.Join(olds, ", "), "DROP SCHEMA "+old)
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("swap %s: %s: %w", c.Name, s, err)
		}
	}
	if err := carryParked(ctx, tx, next, c.Name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DROP SCHEMA "+next+" CASCADE"); err != nil {
		return fmt.Errorf("swap %s: drop the copy: %w", c.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("swap %s: commit: %w", c.Name, err)
	}
	return nil
}

// lockLive takes the live tables and views before they move. API readers take them one
// by one in their own order: waiting for one while holding the others could close a
// cycle with a reader, and PostgreSQL would then abort one side, possibly the reader.
// So the swap waits briefly (well under deadlock_timeout) for all of them at once,
// steps back to let readers finish, and tries again.
func lockLive(ctx context.Context, tx *sql.Tx, schema string, c Copy) error {
	var names []string
	for _, t := range append(append([]string{}, c.Tables...), c.Views...) {
		names = append(names, schema+"."+quoteIdent(t))
	}
	lock := "LOCK TABLE " + strings.Join(names, ", ") + " IN ACCESS EXCLUSIVE MODE"
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '200ms'`); err != nil {
		return err
	}
	for try := 1; ; try++ {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT swap_lock`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, lock)
		if err == nil {
			return nil
		}
		var coded interface{ SQLState() string }
		if !errors.As(err, &coded) || coded.SQLState() != "55P03" || try == 50 {
			return fmt.Errorf("lock the live tables: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT swap_lock`); err != nil {
			return err
		}
		if err := backoff.Sleep(ctx, time.Duration(try)*20*time.Millisecond); err != nil {
			return err
		}
	}
}

func swapSQLite(ctx context.Context, live DB, c Copy, catchUp func(context.Context, event.Cursor) error) error {
	conn, err := live.Conn(ctx)
	if err != nil {
		return fmt.Errorf("swap %s: %w", c.Name, err)
	}
	defer conn.Close()
	// ATTACH is refused inside a transaction.
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE $1 AS rebuild`, c.File); err != nil {
		return fmt.Errorf("swap %s: attach the copy: %w", c.Name, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE rebuild`)
	// A deferred transaction takes each file's write lock when it first writes there:
	// main's at once, below, and never the copy's, which the catch-up writes through its
	// own connection meanwhile (BEGIN IMMEDIATE would lock every attached file).
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return fmt.Errorf("swap %s: %w", c.Name, err)
	}
	done := false
	defer func() {
		if !done {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		}
	}()
	// The write lock on main, held to the commit, keeps the live runner from committing
	// between reading its position and replacing its tables.
	if _, err := conn.ExecContext(ctx, `UPDATE main.projection_checkpoints SET name = name WHERE name = $1`, c.Name); err != nil {
		return fmt.Errorf("swap %s: hold the live checkpoint: %w", c.Name, err)
	}
	var pos string
	if err := conn.QueryRowContext(ctx, `SELECT position FROM main.projection_checkpoints WHERE name = $1`, c.Name).Scan(&pos); err != nil {
		return fmt.Errorf("swap %s: read the live checkpoint (has the projection ever run?): %w", c.Name, err)
	}
	if err := catchUp(ctx, event.Cursor(pos)); err != nil {
		return fmt.Errorf("swap %s: catch up: %w", c.Name, err)
	}
	if err := sameCheckpoint(ctx, conn, "rebuild.projection_checkpoints", c.Name, pos); err != nil {
		return err
	}
	for i := len(c.Tables) - 1; i >= 0; i-- {
		if _, err := conn.ExecContext(ctx, "DELETE FROM main."+quoteIdent(c.Tables[i])); err != nil {
			return fmt.Errorf("swap %s: clear %s: %w", c.Name, c.Tables[i], err)
		}
	}
	for _, t := range c.Tables {
		if _, err := conn.ExecContext(ctx, "INSERT INTO main."+quoteIdent(t)+" SELECT * FROM rebuild."+quoteIdent(t)); err != nil {
			return fmt.Errorf("swap %s: fill %s: %w", c.Name, t, err)
		}
	}
	if err := carryParked(ctx, conn, "rebuild", c.Name); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("swap %s: commit: %w", c.Name, err)
	}
	done = true
	return nil
}

// querier is a transaction or a connection inside one.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sameCheckpoint checks that the copy stands exactly where the live checkpoint does.
func sameCheckpoint(ctx context.Context, q querier, table, name, want string) error {
	var got string
	if err := q.QueryRowContext(ctx, `SELECT position FROM `+table+` WHERE name = $1`, name).Scan(&got); err != nil {
		if want == "" {
			return nil // neither has applied anything
		}
		return fmt.Errorf("swap %s: read the copy's checkpoint: %w", name, err)
	}
	if got != want {
		return fmt.Errorf("swap %s: the copy is at %q, the live projection at %q", name, got, want)
	}
	return nil
}

// carryParked adds the events the rebuild parked to the live list, unresolved.
func carryParked(ctx context.Context, tx querier, from, name string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO parked_events
		(projection, event_id, stream_id, version, position, type, error, parked_at)
		SELECT projection, event_id, stream_id, version, position, type, error, parked_at
		FROM `+from+`.parked_events WHERE projection = $1 `+parkedAgain, name)
	if err != nil {
		return fmt.Errorf("swap %s: carry parked events: %w", name, err)
	}
	return nil
}

// quoteIdent quotes an SQL identifier (both engines use double quotes).
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
