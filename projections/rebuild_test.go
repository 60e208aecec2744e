package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/analytics"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/scans"
)

// besideCopy makes an empty read model beside d's, as `scanledger projections rebuild`
// does: a schema of the same PostgreSQL database, or a SQLite file of its own.
func besideCopy(t *testing.T, d *testDB, name string) (projections.DB, projections.Copy) {
	t.Helper()
	ctx := context.Background()
	if d.name == "sqlite" {
		file := d.path + ".rebuild-" + name
		sdb, err := sqlite.Open(ctx, file, migrations.ReadModel)
		if err != nil {
			t.Fatalf("open the copy: %v", err)
		}
		t.Cleanup(func() { sdb.Close() })
		return projections.DB{DB: sdb.Write, Dialect: projections.SQLite}, projections.Copy{Name: name, File: file}
	}
	var live string
	if err := d.db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	schema := live + "_rebuild_" + name
	if _, err := d.db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(pgURL)
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := migrations.Apply(ctx, db, migrations.Postgres, migrations.ReadModel); err != nil {
		t.Fatalf("migrate the copy: %v", err)
	}
	return projections.DB{DB: db, Dialect: projections.Postgres}, projections.Copy{Name: name, Schema: schema}
}

// ordered gives every table of tables its dump order (all of them have an id, or are
// keyed as below).
func ordered(tables ...[]string) map[string]string {
	keys := map[string]string{
		"user_feed_scans": "scan_id", "user_feed_cursors": "user_id", "scan_attempts": "scan_id, attempt",
		"scan_checklist_items": "scan_id, scope, room_id, item_id", "users": "id",
	}
	out := map[string]string{}
	for _, ts := range tables {
		for _, t := range ts {
			out[t] = "id"
			if k, ok := keys[t]; ok {
				out[t] = k
			}
		}
	}
	return out
}

func sameRows(t *testing.T, what string, got, want map[string][][]string) {
	t.Helper()
	for table, rows := range want {
		if !reflect.DeepEqual(got[table], rows) {
			t.Errorf("%s: %s has %d rows, want %d", what, table, len(got[table]), len(rows))
			for i := range min(len(rows), len(got[table])) {
				if !reflect.DeepEqual(rows[i], got[table][i]) {
					t.Errorf("first difference:\n  got  %v\n  want %v", got[table][i], rows[i])
					break
				}
			}
		}
	}
}

func TestRebuild_BesideThenSwapWhileTheLiveProjectionRunsRepairsTheRowsAndLeavesFeedAndAccountsAlone(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 4))
		generate(w, rng, 8, 400)

		// Live, as serve runs it: scans and feed in one group, analytics on its own.
		live := func() projections.Projection {
			return projections.NewGroup("readmodel", newScansProjector(), feed.NewProjector())
		}
		group := projections.NewRunner(w.store, d.db, live())
		stats := projections.NewRunner(w.store, d.db, analytics.NewProjector())
		start(t, group)
		start(t, stats)
		caughtUp := func() {
			head := w.store.head()
			waitFor(t, group, "live catch-up", func(s projections.Stats) bool { return s.Position == head })
			waitFor(t, stats, "live catch-up", func(s projections.Stats) bool { return s.Position == head })
		}
		caughtUp()

		// Accounts live in the same database without being projections.
		if _, err := d.db.ExecContext(ctx, `INSERT INTO users (id, email, email_key, password_hash, role, created_at, updated_at)
			VALUES ('6a3f0c8e-0000-4000-8000-000000000001', 'a@example.com', 'a@example.com', 'x', 'user', $1, $1)`,
			d.db.Dialect.Time(w.now)); err != nil {
			t.Fatal(err)
		}
		// A row gone wrong (a bug since fixed, a hand edit): the rebuild must repair it.
		var victim string
		if err := d.db.QueryRowContext(ctx, `SELECT id FROM scans WHERE status = 'succeeded' ORDER BY id LIMIT 1`).Scan(&victim); err != nil {
			t.Fatal(err)
		}
		if _, err := d.db.ExecContext(ctx, `UPDATE scans SET status = 'failed', failure_code = 'corrupted' WHERE id = $1`, victim); err != nil {
			t.Fatal(err)
		}

		// Build beside up to where the live projection is, as `rebuild --beside` does.
		copyDB, cp := besideCopy(t, d, "readmodel")
		cp.Tables, cp.Views = scans.Tables, scans.Views
		rebuilt := func() projections.Projection { return projections.NewGroup("readmodel", newScansProjector()) }
		target, _, err := projections.Checkpoint(ctx, d.read, "readmodel")
		if err != nil {
			t.Fatal(err)
		}
		if err := projections.RunUntil(ctx, projections.NewRunner(w.store, copyDB, rebuilt()), target, nil); err != nil {
			t.Fatalf("build beside: %v", err)
		}

		// The system moves on meanwhile: the swap must catch the copy up.
		generate(w, rng, 8, 500)
		caughtUp()
		keep := ordered([]string{"user_feed", "users"})
		before := dumpTables(t, d.read, keep)

		// Events keep arriving during the swap: the live runner waits for it and then
		// carries on into the swapped tables.
		appended := make(chan struct{})
		go func() {
			defer close(appended)
			generate(w, rng, 8, 550)
		}()
		err = projections.Swap(ctx, d.db, cp, func(ctx context.Context, target event.Cursor) error {
			return projections.RunUntil(ctx, projections.NewRunner(w.store, copyDB, rebuilt()), target, nil)
		})
		<-appended
		if err != nil {
			t.Fatalf("swap: %v", err)
		}
		after := dumpTables(t, d.read, keep)
		if !reflect.DeepEqual(after["users"], before["users"]) {
			t.Errorf("accounts changed by the swap: %v, want %v", after["users"], before["users"])
		}
		if len(after["user_feed"]) < len(before["user_feed"]) ||
			!reflect.DeepEqual(after["user_feed"][:len(before["user_feed"])], before["user_feed"]) {
			t.Errorf("the feed's existing messages changed in the swap (%d rows before, %d after)", len(before["user_feed"]), len(after["user_feed"]))
		}
		var status string
		if err := d.read.QueryRowContext(ctx, `SELECT status FROM scans WHERE id = $1`, victim).Scan(&status); err != nil || status != "succeeded" {
			t.Errorf("the corrupted scan after the swap: %q, %v; want succeeded", status, err)
		}
		var outcomes int
		if err := d.read.QueryRowContext(ctx, `SELECT count(*) FROM scan_outcomes`).Scan(&outcomes); err != nil || outcomes == 0 {
			t.Errorf("the analytics view over the swapped tables: %d rows, %v", outcomes, err)
		}

		generate(w, rng, 8, 650)
		caughtUp()

		// Row for row what projecting every event from scratch gives.
		fresh := newSQLite(t)
		if d.name == "postgres" {
			fresh = newPostgres(t)
		}
		catchUp(t, fresh, w.store, nil, live(), analytics.NewProjector())
		all := ordered(scans.Tables, analytics.Tables, feed.Tables)
		sameRows(t, "the live read model against one built from scratch", dumpTables(t, d.read, all), dumpTables(t, fresh.read, all))
		if p, err := projections.ListParked(ctx, d.read, ""); err != nil || len(p) != 0 {
			t.Errorf("parked: %v, %v", p, err)
		}
	})
}

// flaky fails on events of one stream until it is fixed, as a projector with a bug
// does; it records what it applied in a table of its own.
type flaky struct {
	poison string
	fixed  bool
}

func (f *flaky) Name() string { return "flaky" }

func (f *flaky) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	if e.StreamID == f.poison && !f.fixed {
		return errors.New("cannot handle this stream yet")
	}
	_, err := tx.Exec(ctx, `INSERT INTO flaky_applied (event_id) VALUES ($1)`, e.ID)
	return err
}

func TestParked_RetryAfterTheFixAppliesThePoisonEventAndSkipRecordsTheDecision(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, d *testDB) {
		ctx := context.Background()
		if _, err := d.db.ExecContext(ctx, `CREATE TABLE flaky_applied (event_id text PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		w := newWorld(t)
		poisoned := w.create("6a3f0c8e-0000-4000-8000-000000000001", "", "1 Main St")
		poisoned.upload("", 1)
		healthy := w.create("6a3f0c8e-0000-4000-8000-000000000002", "", "2 Main St")
		healthy.upload("", 1)

		p := &flaky{poison: scan.StreamPrefix + poisoned.ScanID}
		quick := func(r *projections.Runner) { r.Retries, r.Backoff = 2, time.Millisecond }
		catchUp(t, d, w.store, quick, p)
		parked, err := projections.ListParked(ctx, d.read, "flaky")
		if err != nil || len(parked) != 2 {
			t.Fatalf("parked: %+v, %v; want the poisoned scan's two events", parked, err)
		}
		applied := func() int {
			var n int
			if err := d.read.QueryRowContext(ctx, `SELECT count(*) FROM flaky_applied`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := applied(); n != 2 {
			t.Fatalf("applied %d events, want the healthy scan's 2", n)
		}

		// Retried before the fix: it still fails, and stays parked.
		first := eventByID(t, w.store, parked[0].EventID)
		if err := projections.Retry(ctx, d.db, p, first, "", w.now); err == nil {
			t.Fatal("a retry before the fix succeeded")
		}
		p.fixed = true
		if err := projections.Retry(ctx, d.db, p, first, "fixed in 1.2.3", w.now); err != nil {
			t.Fatalf("retry after the fix: %v", err)
		}
		if n := applied(); n != 3 {
			t.Errorf("applied %d events after the retry, want 3", n)
		}
		if err := projections.Skip(ctx, d.db, "flaky", parked[1].EventID, "superseded", w.now); err != nil {
			t.Fatalf("skip: %v", err)
		}
		if left, err := projections.ListParked(ctx, d.read, "flaky"); err != nil || len(left) != 0 {
			t.Errorf("still parked: %+v, %v", left, err)
		}
		for id, want := range map[string]string{parked[0].EventID: "retried", parked[1].EventID: "skipped"} {
			got, err := projections.GetParked(ctx, d.read, "flaky", id)
			if err != nil || got.Resolution != want || got.ResolvedAt == nil {
				t.Errorf("%s: %+v, %v; want %s", id, got, err, want)
			}
		}
		if err := projections.Retry(ctx, d.db, p, first, "", w.now); !errors.Is(err, projections.ErrNotParked) {
			t.Errorf("a second retry: %v, want ErrNotParked", err)
		}
		// The live runner applies nothing twice after the retry.
		catchUp(t, d, w.store, quick, p)
		if n := applied(); n != 3 {
			t.Errorf("applied %d events after running again, want 3", n)
		}
	})
}

func eventByID(t *testing.T, store *memStore, id string) event.Recorded {
	t.Helper()
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, e := range store.events {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no event %s", id)
	return event.Recorded{}
}

func TestRunner_ANewProjectionCatchesUpFromTheFirstEventWhileResettingACheckpointAloneAppliesNothing(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		generate(w, rand.New(rand.NewPCG(5, 6)), 4, 100)
		w.catchUp(d, newScansProjector())

		// A projection added in code has a name of its own: it starts from the first event.
		rs := w.catchUp(d, analytics.NewProjector())
		if s := rs[0].Stats(); s.Applied != uint64(w.store.len()) || s.Skipped != 0 {
			t.Errorf("new projection: %+v, want all %d events applied", s, w.store.len())
		}

		// The trap a rebuild avoids: the per-stream version guard remembers every stream,
		// so moving the checkpoint back re-applies nothing.
		if _, err := d.db.ExecContext(ctx, `UPDATE projection_checkpoints SET position = '' WHERE name = $1`, scans.Name); err != nil {
			t.Fatal(err)
		}
		again := projections.NewRunner(w.store, d.db, newScansProjector())
		start(t, again)
		waitFor(t, again, "every event delivered again", func(s projections.Stats) bool { return s.Skipped == uint64(w.store.len()) })
		if s := again.Stats(); s.Applied != 0 {
			t.Errorf("after a checkpoint reset: %+v, want every event skipped", s)
		}
	})
}
