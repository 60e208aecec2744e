package projections_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/jobs"
	"github.com/scanledger/scanledger/projections/scans"
)

// crashAfterWrite wraps a projector and, once its writes for a transaction are done,
// cancels the runner's context: a process dying between writing and committing.
type crashAfterWrite struct {
	*scans.Projector
	crash func()
}

func (c crashAfterWrite) Flush(ctx context.Context, tx *projections.Tx) error {
	if err := c.Projector.Flush(ctx, tx); err != nil {
		return err
	}
	c.crash()
	return ctx.Err()
}

func lifecycle(w *world, user string) *history {
	h := w.create(user, "", "1 Main St")
	up := h.upload("", 2, 1)
	h.start(1)
	h.progress(1, 10, "Preparing request")
	h.progress(1, 100, "Complete")
	h.complete(1, up)
	return h
}

// lifecycles writes n scans of different users, each through its whole lifecycle.
func lifecycles(w *world, n int) {
	for range n {
		lifecycle(w, domain.NewID())
	}
}

func TestRunner_CommitsTheCheckpointInTheSameTransactionAsTheEffects(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		h := lifecycle(w, domain.NewID())

		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := projections.NewRunner(w.store, d.db, crashAfterWrite{newScansProjector(), cancel})
		if err := r.Run(runCtx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		if n := count(t, d, "SELECT count(*) FROM scans"); n != 0 {
			t.Errorf("%d scans written by a transaction that never committed", n)
		}
		if pos, _, err := projections.Checkpoint(ctx, d.read, scans.Name); err != nil || pos != event.Start {
			t.Errorf("checkpoint = %q, %v; want unchanged (start)", pos, err)
		}
		if p, _ := projections.ListParked(ctx, d.read, ""); len(p) != 0 {
			t.Errorf("a crash parked %d events", len(p))
		}

		// The restarted process applies everything once.
		rs := w.catchUp(d, newScansProjector())
		if s := rs[0].Stats(); s.Applied != uint64(w.store.len()) || s.Parked != 0 {
			t.Errorf("stats after restart = %+v", s)
		}
		if got := getScan(t, d, h.ScanID); got.Status != "succeeded" || len(got.Rooms) != 2 {
			t.Errorf("scan after restart = %+v", got)
		}
	})
}

func TestRunner_EventsDeliveredAgainAreNotAppliedTwice(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		u := domain.NewID()
		a := lifecycle(w, u)
		b := w.create(u, a.HouseID, "")
		b.upload("", 1, 1)
		b.start(1)
		b.fail(1, "x", "y", true)
		w.store.batch = 3
		w.store.redeliver = true

		rs := w.catchUp(d, newScansProjector(), feed.NewProjector(), jobs.NewProjector())
		total := uint64(w.store.len())
		for _, r := range rs {
			// The last batch's second delivery may still be in flight when catch-up
			// sees the head; everything before it was delivered twice.
			if s := r.Stats(); s.Applied != total || s.Skipped < total-3 {
				t.Errorf("%s: applied %d, skipped %d; want %d applied and every event skipped once", r.Name(), s.Applied, s.Skipped, total)
			}
		}
		for table, want := range map[string]int{"houses": 1, "scans": 2, "rooms": 4, "house_room_images": 5,
			"agents_runs": 2, "house_scan_summary": 1, "user_feed": 8, "scan_jobs": 3} {
			if n := count(t, d, "SELECT count(*) FROM "+table); n != want {
				t.Errorf("%s has %d rows, want %d", table, n, want)
			}
		}
		if seqs := readUser(t, d, u, 0, 100); seqs[len(seqs)-1].Seq != int64(len(seqs)) {
			t.Errorf("feed seqs have gaps or repeats: last %d of %d", seqs[len(seqs)-1].Seq, len(seqs))
		}
	})
}

func TestRunner_ParksAPoisonEventAfterRetriesAndCarriesOn(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		a := w.create(domain.NewID(), "", "")
		a.upload("", 1)
		a.raw(scan.TypeProgressReported, []byte(`{"attempt": "one"`)) // truncated JSON
		b := w.create(domain.NewID(), "", "")
		b.upload("", 2)
		poison := w.store.events[2]

		rs := catchUp(t, d, w.store, func(r *projections.Runner) { r.Retries, r.Backoff = 3, time.Millisecond }, newScansProjector())
		s := rs[0].Stats()
		// The batch failed, then the poison event failed alone three times.
		if s.Parked != 1 || s.Applied != 4 || s.Failures != 4 || s.Position != w.store.head() {
			t.Errorf("stats = %+v; want 1 parked, 4 applied, 4 failures, at the head", s)
		}
		parked, err := projections.ListParked(ctx, d.read, scans.Name)
		if err != nil || len(parked) != 1 {
			t.Fatalf("parked = %+v, %v", parked, err)
		}
		p := parked[0]
		if p.EventID != poison.ID || p.StreamID != poison.StreamID || p.Version != poison.Version ||
			p.Position != poison.Position || p.Type != poison.Type || !strings.Contains(p.Error, "decode") {
			t.Errorf("parked = %+v; want event %s with its decode error", p, poison.ID)
		}
		if got := getScan(t, d, b.ScanID); len(got.Images) != 2 {
			t.Errorf("the scan after the poison event has %d images, want 2", len(got.Images))
		}
		if got := getScan(t, d, a.ScanID); len(got.Images) != 1 {
			t.Errorf("the poison event's scan lost its earlier effects: %+v", got)
		}
	})
}

func TestRunner_CallsOnCommitAfterTheRowsAreVisible(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.create(domain.NewID(), "", "")
		h.upload("", 1)
		var mu sync.Mutex
		var seen []int
		var lasts []event.Recorded
		onCommit := func(name string, last event.Recorded) {
			es, err := feed.Tail(context.Background(), d.read, 0, 100)
			if err != nil {
				t.Errorf("tail: %v", err)
			}
			mu.Lock()
			seen = append(seen, len(es))
			lasts = append(lasts, last)
			mu.Unlock()
		}
		calls := func(projections.Stats) bool {
			mu.Lock()
			defer mu.Unlock()
			return len(lasts) > 0 && lasts[len(lasts)-1].Position == w.store.head()
		}
		r := projections.NewRunner(w.store, d.db, feed.NewProjector())
		r.OnCommit = onCommit
		start(t, r)
		waitFor(t, r, "OnCommit for the first batch", calls)
		h.start(1)
		waitFor(t, r, "OnCommit for the live event", calls)

		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 2 || seen[0] != 1 || seen[1] != 2 {
			t.Errorf("OnCommit saw %v feed rows, want [1 2]", seen)
		}
		if len(lasts) == 2 && (lasts[1].Type != scan.TypeProcessingStarted || lasts[1].Position != w.store.head()) {
			t.Errorf("OnCommit got %+v, want the last event", lasts[1])
		}
		if s := r.Stats(); !s.Running || s.Applied != 3 || s.Batches != 2 || s.LastRecordedAt.IsZero() || s.Lag <= 0 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestRunner_StopsWhenItsLockIsLost(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		w.create(domain.NewID(), "", "")
		var lose context.CancelFunc
		released := make(chan struct{})
		lock := func(ctx context.Context) (context.Context, func(), error) {
			held, cancel := context.WithCancel(ctx)
			lose = cancel
			return held, func() { close(released) }, nil
		}
		r := projections.NewRunner(w.store, d.db, newScansProjector())
		r.Lock = lock
		done := make(chan error, 1)
		go func() { done <- r.Run(context.Background()) }()
		waitFor(t, r, "catch-up", func(s projections.Stats) bool { return s.Position == w.store.head() })
		lose()
		if err := <-done; !errors.Is(err, projections.ErrLockLost) {
			t.Errorf("Run = %v, want ErrLockLost", err)
		}
		select {
		case <-released:
		default:
			t.Error("the lock was not released")
		}
	})
}

func TestRunner_ASecondWriterNeverCommitsOverTheFirst(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.create(domain.NewID(), "", "")

		// B reads the checkpoint, then stalls before its first delivery.
		gate := make(chan struct{})
		w.store.gate = gate
		b := projections.NewRunner(w.store, d.db, newScansProjector())
		done := make(chan error, 1)
		go func() { done <- b.Run(context.Background()) }()
		waitFor(t, b, "B started", func(s projections.Stats) bool { return s.Running })
		time.Sleep(50 * time.Millisecond)

		// Meanwhile A (whose lock B wrongly thinks it holds) moves on.
		w.store.mu.Lock()
		w.store.gate = nil
		w.store.mu.Unlock()
		h.upload("", 1)
		w.catchUp(d, newScansProjector())
		h.start(1)
		w.catchUp(d, newScansProjector())

		h.progress(1, 10, "x")
		close(gate)
		if err := <-done; !errors.Is(err, projections.ErrCheckpointMoved) {
			t.Errorf("B's Run = %v, want ErrCheckpointMoved", err)
		}
	})
}

// counter is a projection that counts how often each event is handled.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) Name() string { return "counter" }

func (c *counter) Handle(_ context.Context, _ *projections.Tx, e event.Recorded) error {
	c.mu.Lock()
	c.n[e.ID]++
	c.mu.Unlock()
	return nil
}

func TestRunner_AnEventDeliveredTwiceInOneBatchIsAppliedOnce(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		lifecycle(w, domain.NewID())
		w.store.repeat = true
		c := &counter{n: map[string]int{}}
		rs := w.catchUp(d, c)
		for _, e := range w.store.events {
			if c.n[e.ID] != 1 {
				t.Errorf("%s@%d was handled %d times, want once", e.Type, e.Version, c.n[e.ID])
			}
		}
		total := uint64(w.store.len())
		if s := rs[0].Stats(); s.Applied != total || s.Skipped != total {
			t.Errorf("stats = %+v; want %d applied and %d skipped", s, total, total)
		}
	})
}

func TestCheckpoint_TellsWhereAProjectionIsAndWhenItLastMoved(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, d *testDB) {
		ctx := context.Background()
		if pos, at, err := projections.Checkpoint(ctx, d.read, scans.Name); err != nil || pos != event.Start || !at.IsZero() {
			t.Errorf("before any run: Checkpoint = %q, %v, %v; want the start and the zero time", pos, at, err)
		}
		w := newWorld(t)
		lifecycle(w, domain.NewID())
		clock := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
		catchUp(t, d, w.store, func(r *projections.Runner) { r.Now = func() time.Time { return clock } }, newScansProjector())
		pos, at, err := projections.Checkpoint(ctx, d.read, scans.Name)
		if err != nil || pos != w.store.head() || !at.Equal(clock) {
			t.Errorf("after catch-up: Checkpoint = %q, %v, %v; want %q at %v", pos, at, err, w.store.head(), clock)
		}
	})
}

// faultOn wraps the scans projector: the first time it sees event id it fails like a
// projection bug, which makes the runner retry the batch's events one by one; when it
// sees the event again, fault decides what happens.
type faultOn struct {
	*scans.Projector
	id    string
	seen  int
	fault func(ctx context.Context, tx *projections.Tx) error
}

func (f *faultOn) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	if e.ID != f.id {
		return f.Projector.Handle(ctx, tx, e)
	}
	f.seen++
	if f.seen == 1 {
		return errors.New("a projection bug")
	}
	return f.fault(ctx, tx)
}

// stoppedBefore checks that Run stopped with nothing parked and the checkpoint before
// the event, and that a healthy run afterwards applies it.
func stoppedBefore(t *testing.T, d *testDB, w *world, e event.Recorded) {
	t.Helper()
	ctx := context.Background()
	if p, err := projections.ListParked(ctx, d.read, ""); err != nil || len(p) != 0 {
		t.Errorf("parked = %+v, %v; want nothing parked", p, err)
	}
	if pos, _, err := projections.Checkpoint(ctx, d.read, scans.Name); err != nil || pos != w.store.events[0].Position {
		t.Errorf("checkpoint = %q, %v; want %q, the event before", pos, err, w.store.events[0].Position)
	}
	w.catchUp(d, newScansProjector())
	if got := getScan(t, d, e.StreamID[len(scan.StreamPrefix):]); len(got.Images) != 1 {
		t.Errorf("after a healthy run the scan has %d images, want 1", len(got.Images))
	}
}

func TestRunner_ADatabaseFailureWhileAnEventIsRetriedStopsTheRunInsteadOfParkingIt(t *testing.T) {
	t.Parallel()
	d := newPostgres(t)
	w := newWorld(t)
	h := w.create(domain.NewID(), "", "")
	h.upload("", 1)
	e := w.store.events[1]
	// The retry's connection is killed by the server, as when PostgreSQL restarts.
	p := &faultOn{Projector: newScansProjector(), id: e.ID, fault: func(ctx context.Context, tx *projections.Tx) error {
		_, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
		return err
	}}
	r := projections.NewRunner(w.store, d.db, p)
	r.Retries, r.Backoff = 3, time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.Run(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run = %v with stats %+v; want it to stop at once on the lost connection", err, r.Stats())
	}
	if s := r.Stats(); s.Parked != 0 || s.Failures != 1 {
		t.Errorf("stats = %+v; want nothing parked and only the batch's failure counted", s)
	}
	stoppedBefore(t, d, w, e)
}

func TestRunner_CancellationWhileAnEventIsRetriedParksNothing(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.create(domain.NewID(), "", "")
		h.upload("", 1)
		e := w.store.events[1]
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := &faultOn{Projector: newScansProjector(), id: e.ID, fault: func(ctx context.Context, _ *projections.Tx) error {
			cancel()
			return ctx.Err()
		}}
		r := projections.NewRunner(w.store, d.db, p)
		r.Retries, r.Backoff = 3, time.Millisecond
		if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		if s := r.Stats(); s.Parked != 0 || s.Failures != 1 {
			t.Errorf("stats = %+v; want nothing parked and only the batch's failure counted", s)
		}
		stoppedBefore(t, d, w, e)
	})
}

// Keep outlives what stops Run: a lock it cannot take (the database is away) and a
// lock it loses are followed by another run, which takes the lock again and goes on
// from the checkpoint, applying each event once.
func TestRunner_KeepRunsAgainAfterTheLockFailsOrIsLost(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		w.create(domain.NewID(), "", "")
		var (
			mu    sync.Mutex
			tries int
			lose  context.CancelFunc
		)
		lock := func(ctx context.Context) (context.Context, func(), error) {
			mu.Lock()
			defer mu.Unlock()
			if tries++; tries <= 2 {
				return nil, nil, errors.New("connect: connection refused")
			}
			held, cancel := context.WithCancel(ctx)
			lose = cancel
			return held, cancel, nil
		}
		r := projections.NewRunner(w.store, d.db, newScansProjector())
		r.Lock = lock
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Keep(ctx) }()
		waitFor(t, r, "catch-up after two failed lock attempts", func(s projections.Stats) bool { return s.Position == w.store.head() })

		mu.Lock()
		lose()
		mu.Unlock()
		w.create(domain.NewID(), "", "")
		waitFor(t, r, "catch-up after the lock was lost", func(s projections.Stats) bool { return s.Position == w.store.head() })
		if s := r.Stats(); s.Applied != uint64(w.store.len()) {
			t.Errorf("applied %d events of %d", s.Applied, w.store.len())
		}
		mu.Lock()
		if tries < 4 {
			t.Errorf("the lock was taken %d times, want 4 (two failures, a run, a run after the loss)", tries)
		}
		mu.Unlock()
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Keep = %v, want context.Canceled", err)
		}
	})
}

// pragmaSeen records a SQLite connection setting (synchronous, wal_autocheckpoint) as
// each event's transaction sees it.
type pragmaSeen struct {
	pragma string
	seen   []int
}

func (s *pragmaSeen) Name() string { return "pragma-" + s.pragma }

func (s *pragmaSeen) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	// SQLite compiles the level into the statement, so the text is new each time:
	// Tx's statement cache would otherwise answer with the level of its first prepare.
	var v int
	if err := tx.QueryRow(ctx, "PRAGMA "+s.pragma+" -- "+e.ID).Scan(&v); err != nil {
		return err
	}
	s.seen = append(s.seen, v)
	return nil
}

// In embedded mode the event store and the read model share one write connection, kept
// at synchronous=FULL for the appends. A projection's commit needs no fsync (its rows
// and checkpoint commit together, and a lost commit is applied again from the
// checkpoint: see TestRunner_CommitsTheCheckpointInTheSameTransactionAsTheEffects), so
// it runs at NORMAL, and the connection goes back to FULL for the next append.
func TestRunner_OnSQLiteCommitsWithoutFsyncAndLeavesTheConnectionAtFull(t *testing.T) {
	t.Parallel()
	const normal, full = 1, 2
	d := newSQLite(t)
	w := newWorld(t)
	lifecycle(w, domain.NewID())
	p := &pragmaSeen{pragma: "synchronous"}
	catchUp(t, d, w.store, func(r *projections.Runner) { r.BatchSize = 2 }, p)
	if len(p.seen) != w.store.len() {
		t.Fatalf("handled %d events, want %d", len(p.seen), w.store.len())
	}
	for i, v := range p.seen {
		if v != normal {
			t.Errorf("event %d was projected at synchronous=%d, want NORMAL (%d)", i, v, normal)
		}
	}
	var v int
	if err := d.db.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != full {
		t.Errorf("the write connection is left at synchronous=%d, want FULL (%d) for the event store", v, full)
	}
}

// SQLite copies the write-ahead log into the database (a checkpoint) in the commit that
// takes the log past wal_autocheckpoint pages, 1,000 by default. A catch-up batch writes
// several thousand, so every one of its commits paid a checkpoint that copied pages the
// next batch writes again. While behind, the runner commits with a log ten times as
// long, so that a checkpoint copies a page once for several batches; live commits, and
// the event store's appends after them, keep the default.
func TestRunner_OnSQLiteCheckpointsLessOftenWhileBehind(t *testing.T) {
	t.Parallel()
	const def = 1000
	w := newWorld(t)
	lifecycles(w, 3)
	n := w.store.len()
	for _, c := range []struct {
		name    string
		deliver int
		want    func(int) bool
	}{
		{"behind", n, func(v int) bool { return v >= 10*def }},
		{"live", 2, func(v int) bool { return v == def }},
	} {
		w.store.batch = c.deliver
		d := newSQLite(t)
		p := &pragmaSeen{pragma: "wal_autocheckpoint"}
		catchUp(t, d, w.store, func(r *projections.Runner) { r.BatchSize = 2 }, p)
		if len(p.seen) != n {
			t.Fatalf("%s: handled %d events, want %d", c.name, len(p.seen), n)
		}
		for i, v := range p.seen {
			if !c.want(v) {
				t.Errorf("%s: event %d was projected at wal_autocheckpoint=%d", c.name, i, v)
			}
		}
		var v int
		if err := d.db.QueryRowContext(context.Background(), "PRAGMA wal_autocheckpoint").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != def {
			t.Errorf("%s: the write connection is left at wal_autocheckpoint=%d, want the default %d", c.name, v, def)
		}
	}
}

// A store that delivers more than BatchSize events at once has more waiting: the runner
// is behind and commits CatchUpBatchSize events at a time; a delivery of at most
// BatchSize (what is new when live) is committed as it comes.
func TestRunner_CommitsLargerBatchesWhileBehind(t *testing.T) {
	t.Parallel()
	d := newSQLite(t)
	w := newWorld(t)
	lifecycles(w, 4)
	n := w.store.len()
	w.store.batch = n // behind by every event
	for _, c := range []struct {
		batch, catchUp int
		batches        uint64
	}{
		{2, 0, 1},
		{2, 10, uint64((n + 9) / 10)},
	} {
		p := &counter{n: map[string]int{}}
		rs := catchUp(t, newSQLite(t), w.store, func(r *projections.Runner) { r.BatchSize, r.CatchUpBatchSize = c.batch, c.catchUp }, p)
		if s := rs[0].Stats(); s.Applied != uint64(n) || s.Batches != c.batches {
			t.Errorf("batch %d, catch-up batch %d: %d events applied in %d transactions, want %d in %d", c.batch, c.catchUp, s.Applied, s.Batches, n, c.batches)
		}
	}
	w.store.batch = 2 // live: a delivery is at most a batch
	p := &counter{n: map[string]int{}}
	rs := catchUp(t, d, w.store, func(r *projections.Runner) { r.BatchSize = 3 }, p)
	if s := rs[0].Stats(); s.Applied != uint64(n) || s.Batches != uint64((n+1)/2) {
		t.Errorf("live: %d events applied in %d transactions, want %d in %d", s.Applied, s.Batches, n, (n+1)/2)
	}
}

// While live, a runner with MinCommitInterval commits at most once per interval: what
// arrives in between waits and goes into the next transaction, so a steady trickle of
// single events costs a commit per interval rather than one per event.
func TestRunner_WhileLiveGathersWhatArrivesWithinTheCommitInterval(t *testing.T) {
	t.Parallel()
	d := newSQLite(t)
	w := newWorld(t)
	w.store.batch = 100
	h := w.create(domain.NewID(), domain.NewID(), "1 Main St")
	p := &counter{n: map[string]int{}}
	r := projections.NewRunner(w.store, d.db, p)
	r.MinCommitInterval = time.Second
	start(t, r)
	waitFor(t, r, "the first event", func(s projections.Stats) bool { return s.Applied == uint64(w.store.len()) })

	const trickle = 10
	for i := range trickle {
		h.progress(1, i, "x")
		time.Sleep(10 * time.Millisecond) // a trickle: each event its own delivery without the interval
	}
	total := uint64(w.store.len())
	waitFor(t, r, "the trickle", func(s projections.Stats) bool { return s.Applied == total })
	if s := r.Stats(); s.Batches > 1+trickle/2 {
		t.Errorf("%d events arriving one by one took %d commits; want them gathered", trickle, s.Batches-1)
	}
}
