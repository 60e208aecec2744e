package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/scanledger/scanledger/adapters/postgres/pgtest"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
)

// pgURL is this test run's own Postgres database, created by TestMain and dropped after.
var pgURL string

// TestMain fails the run when Postgres is unreachable: half of every test is the
// Postgres dialect, and a skipped half would pass unnoticed.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "scanledger_projections", &pgURL)) }

// testDB is a migrated read-model database. Writes go through db (the projections'
// handle); queries read through read, as the API will.
type testDB struct {
	name    string // "sqlite" or "postgres"
	db      projections.DB
	read    projections.DB
	path    string // SQLite file
	connect func(t testing.TB) projections.DB
}

// forEachDB runs f against a fresh SQLite file and a fresh Postgres schema.
func forEachDB(t *testing.T, f func(t *testing.T, d *testDB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, newSQLite(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, newPostgres(t))
	})
}

func newSQLite(t testing.TB) *testDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "readmodel.db")
	sdb, err := sqlite.Open(context.Background(), path, migrations.ReadModel)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { sdb.Close() })
	return &testDB{
		name: "sqlite",
		db:   projections.DB{DB: sdb.Write, Dialect: projections.SQLite},
		read: projections.DB{DB: sdb.Read, Dialect: projections.SQLite},
		path: path,
		connect: func(t testing.TB) projections.DB {
			other, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatalf("open sqlite: %v", err)
			}
			t.Cleanup(func() { other.Close() })
			return projections.DB{DB: other.Write, Dialect: projections.SQLite}
		},
	}
}

// newPostgres gives each test its own schema of this run's database, so tests run in
// parallel without seeing each other's rows. Commits do not wait for the disk: tests
// need no durability, and this machine's fsync takes milliseconds.
func newPostgres(t testing.TB) *testDB { return openPostgres(t, false) }

// newDurablePostgres is newPostgres with the server's default, durable commits, for
// benchmarks.
func newDurablePostgres(t testing.TB) *testDB { return openPostgres(t, true) }

func openPostgres(t testing.TB, durable bool) *testDB {
	t.Helper()
	ctx := context.Background()
	var settings map[string]string
	if !durable {
		settings = map[string]string{"synchronous_commit": "off"}
	}
	dsn := pgtest.Schema(t, pgURL, settings)
	open := func(t testing.TB) projections.DB {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return projections.DB{DB: db, Dialect: projections.Postgres}
	}
	db := open(t)
	if err := migrations.Apply(ctx, db.DB, migrations.Postgres, migrations.ReadModel); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return &testDB{name: "postgres", db: db, read: db, connect: open}
}

// memStore is an in-memory event.Store: enough of the port's promises (all-stream
// order, catch-up then live subscription, expected versions) to drive projections.
type memStore struct {
	mu       sync.Mutex
	events   []event.Recorded
	versions map[string]int64
	wake     chan struct{}
	// batch is the most events per delivery.
	batch int
	// redeliver delivers every batch twice, as an at-least-once subscription does after
	// a reconnect that lost its acknowledgement.
	redeliver bool
	// repeat makes every delivery carry its events twice over, as a subscription that
	// re-reads a page it already holds would.
	repeat bool
	// gate, when set, holds every delivery until it is closed.
	gate chan struct{}
}

func newMemStore() *memStore {
	return &memStore{versions: map[string]int64{}, wake: make(chan struct{}), batch: 1000}
}

func cursorAt(i int) event.Cursor { return event.Cursor(fmt.Sprintf("%012d", i)) }

func indexOf(c event.Cursor) (int, error) {
	if c == event.Start {
		return 0, nil
	}
	return strconv.Atoi(string(c))
}

// head is the cursor of the last event.
func (s *memStore) head() event.Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cursorAt(len(s.events))
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func (s *memStore) Append(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, error) {
	if len(events) == 0 {
		return event.AppendResult{}, errors.New("append: no events")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.versions[stream]
	if !exists {
		cur = -1
	}
	switch {
	case expected == event.NoStream && exists,
		expected >= 0 && expected != cur:
		return event.AppendResult{}, event.ErrWrongExpectedVersion
	}
	for _, d := range events {
		cur++
		at := time.Now().UTC()
		if m, err := event.ParseMetadata(d.Metadata); err == nil && !m.OccurredAt.IsZero() {
			at = m.OccurredAt
		}
		s.events = append(s.events, event.Recorded{
			ID: d.ID, StreamID: stream, Version: cur, Position: cursorAt(len(s.events) + 1),
			Type: d.Type, SchemaVersion: d.SchemaVersion, Data: d.Data, Metadata: d.Metadata, RecordedAt: at,
		})
	}
	s.versions[stream] = cur
	close(s.wake)
	s.wake = make(chan struct{})
	return event.AppendResult{Version: cur, Position: cursorAt(len(s.events))}, nil
}

// ReadStream fails: projections read the all-stream only, so a stream read here would
// be a projection reaching for state its events do not carry.
func (s *memStore) ReadStream(context.Context, string, int64, int) ([]event.Recorded, error) {
	return nil, errors.New("projections do not read single streams")
}

func (s *memStore) ReadAll(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	i, err := indexOf(after)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	end := min(len(s.events), i+max)
	if i >= end {
		return nil, nil
	}
	return append([]event.Recorded(nil), s.events[i:end]...), nil
}

func (s *memStore) Subscribe(ctx context.Context, after event.Cursor, h event.Handler) error {
	pos, err := indexOf(after)
	if err != nil {
		return err
	}
	for {
		s.mu.Lock()
		if pos >= len(s.events) {
			wake := s.wake
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
				continue
			}
		}
		batch := append([]event.Recorded(nil), s.events[pos:min(len(s.events), pos+s.batch)]...)
		gate, redeliver, n := s.gate, s.redeliver, len(batch)
		if s.repeat {
			batch = append(batch, batch...)
		}
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-gate:
			}
		}
		if err := h(ctx, batch); err != nil {
			return err
		}
		if redeliver {
			if err := h(ctx, batch); err != nil {
				return err
			}
		}
		pos += n
	}
}

// start runs a runner until the test ends and checks that it stopped only because the
// test cancelled it.
func start(t testing.TB, r *projections.Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("runner %s stopped with %v", r.Name(), err)
		}
	})
}

// stuckAfter is how long waitFor lets a runner's stats stand still, counted in time the
// test process could run: time its threads spent ready but waiting for a CPU does not
// count. A runner shows no progress until it commits, and on a loaded machine (a full
// race run on two cores, load average 25 and more) one live commit of a few hundred
// events, with the other runner's commit queued before it on the single SQLite write
// connection, took over 10s of wall time while the process got a twentieth of a core.
// A runner that stopped or hangs still fails the test in seconds on an idle machine,
// and within stuckWall on any.
const (
	stuckAfter = 10 * time.Second
	stuckWall  = 2 * time.Minute
)

// waitFor polls the runner's stats until ok holds.
func waitFor(t testing.TB, r *projections.Runner, what string, ok func(projections.Stats) bool) {
	t.Helper()
	last, clock := r.Stats(), newRunClock()
	for s := last; !ok(s); s = r.Stats() {
		if s != last {
			last, clock = s, newRunClock()
		} else if ran, wall := clock.read(); ran > stuckAfter || wall > stuckWall {
			t.Fatalf("runner %s: no progress for %v of run time (%v of wall time) waiting for %s; stats %+v",
				r.Name(), ran.Round(time.Millisecond), wall.Round(time.Millisecond), what, s)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runClock measures the time since it started during which this process was not kept
// waiting for a CPU: wall time less what its threads spent runnable but not running
// (Linux's per-thread schedstat). Where that is unreadable it is wall time.
type runClock struct {
	start, at time.Time
	waited    time.Duration // the threads' run-queue wait at the last sample
	ran       time.Duration
}

// runClockSample is how often the clock reads the threads' counters.
const runClockSample = 100 * time.Millisecond

func newRunClock() *runClock {
	now := time.Now()
	return &runClock{start: now, at: now, waited: runQueueWait()}
}

// read returns the run time and the wall time since the clock started. Each sample
// counts its wall time less the threads' wait in it, so a spell of heavy load does not
// hide a later stall on an idle machine.
func (c *runClock) read() (ran, wall time.Duration) {
	now := time.Now()
	if dt := now.Sub(c.at); dt >= runClockSample {
		waited := runQueueWait()
		c.ran += max(0, dt-max(0, waited-c.waited))
		c.at, c.waited = now, waited
	}
	return c.ran, now.Sub(c.start)
}

// runQueueWait sums how long this process's threads have waited for a CPU while ready
// to run (the second field of /proc/self/task/*/schedstat, in nanoseconds); 0 where the
// kernel does not tell.
func runQueueWait() time.Duration {
	files, _ := filepath.Glob("/proc/self/task/*/schedstat")
	var total time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread has exited
		}
		if fields := strings.Fields(string(b)); len(fields) >= 2 {
			if ns, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				total += time.Duration(ns)
			}
		}
	}
	return total
}

// catchUp applies everything in the store to each projection (a new runner each time,
// resuming from its checkpoint, with the fields tune sets if not nil) and stops.
func catchUp(t testing.TB, d *testDB, store *memStore, tune func(*projections.Runner), ps ...projections.Projection) []*projections.Runner {
	t.Helper()
	head := store.head()
	var runners []*projections.Runner
	for _, p := range ps {
		r := projections.NewRunner(store, d.db, p)
		if tune != nil {
			tune(r)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		waitFor(t, r, "catch-up", func(s projections.Stats) bool {
			select {
			case err := <-done:
				t.Fatalf("runner %s stopped before catching up: %v", r.Name(), err)
			default:
			}
			return s.Position == head
		})
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("runner %s stopped with %v", r.Name(), err)
		}
		runners = append(runners, r)
	}
	return runners
}
