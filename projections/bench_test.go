package projections_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/jobs"
)

// benchBatch is the runner's batch size: BENCH_BATCH, or 0 for the dialect's default.
func benchBatch(b *testing.B) int {
	if s := os.Getenv("BENCH_BATCH"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("BENCH_BATCH: %v", err)
		}
		return n
	}
	return 0
}

// benchEvents is how many events a catch-up benchmark projects (BENCH_EVENTS overrides).
func benchEvents(b *testing.B, def int) int {
	if s := os.Getenv("BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("BENCH_EVENTS: %v", err)
		}
		return n
	}
	return def
}

// BenchmarkCatchUp measures how fast a fresh read model catches up with a store full of
// interleaved scan histories (about 9 events per scan, 50 scans in flight), one
// projection at a time and all three at once. Run with -benchtime=1x: each iteration
// projects every event.
func BenchmarkCatchUp(b *testing.B) {
	for _, engine := range []struct {
		name   string
		open   func(testing.TB) *testDB
		events int
	}{
		{"sqlite", newSQLite, benchEvents(b, 100_000)},
		// The page cache adapters/sqlite should configure for the projections' writer:
		// the default 2 MB makes every batch re-read and spill index pages.
		{"sqlite-cache64MB", func(t testing.TB) *testDB {
			d := newSQLite(t)
			if _, err := d.db.ExecContext(context.Background(), "PRAGMA cache_size = -65536"); err != nil {
				t.Fatalf("cache_size: %v", err)
			}
			return d
		}, benchEvents(b, 100_000)},
		{"postgres", newDurablePostgres, benchEvents(b, 200_000)},
	} {
		w := newWorld(b)
		generate(w, rand.New(rand.NewPCG(7, 7)), 50, engine.events)
		w.store.batch = 5000
		n := w.store.len()
		for _, set := range []struct {
			name string
			ps   func() []projections.Projection
		}{
			{"scans", func() []projections.Projection { return []projections.Projection{newScansProjector()} }},
			{"feed", func() []projections.Projection { return []projections.Projection{feed.NewProjector()} }},
			{"jobs", func() []projections.Projection { return []projections.Projection{jobs.NewProjector()} }},
			{"all", func() []projections.Projection {
				return []projections.Projection{newScansProjector(), feed.NewProjector(), jobs.NewProjector()}
			}},
		} {
			b.Run(engine.name+"/"+set.name, func(b *testing.B) {
				var elapsed, cpu time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					d := engine.open(b)
					b.StartTimer()
					c := cpuTime()
					elapsed += runAll(b, d, w.store, benchBatch(b), set.ps())
					cpu += cpuTime() - c
				}
				b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
				// This process's CPU only (for Postgres, the server's is not counted):
				// what the figure would be with a core to itself.
				b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "events/cpu-s")
				b.ReportMetric(float64(n), "events")
			})
		}
	}
}

// runAll runs the projections side by side, as one process does, until each has
// applied everything, and returns how long that took.
func runAll(b *testing.B, d *testDB, store *memStore, batch int, ps []projections.Projection) time.Duration {
	head := store.head()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caughtUp := make(chan struct{}, len(ps))
	stopped := make(chan error, len(ps))
	begin := time.Now()
	for _, p := range ps {
		var once sync.Once
		r := projections.NewRunner(store, d.db, p)
		r.BatchSize = batch
		r.OnCommit = func(_ string, last event.Recorded) {
			if last.Position == head {
				once.Do(func() { caughtUp <- struct{}{} })
			}
		}
		go func() { stopped <- r.Run(ctx) }()
	}
	for range ps {
		select {
		case <-caughtUp:
		case err := <-stopped:
			b.Fatalf("runner stopped early: %v", err)
		}
	}
	took := time.Since(begin)
	cancel()
	for range ps {
		if err := <-stopped; !errors.Is(err, context.Canceled) {
			b.Errorf("runner stopped with %v", err)
		}
	}
	return took
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
