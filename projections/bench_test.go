package projections_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/jobs"
)

// benchBatch is the runner's batch size: BENCH_BATCH, or 0 for the defaults (the
// dialect's live batch, 5,000 while catching up).
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
		// adapters/sqlite gives the write connection a page cache that holds a
		// catch-up batch (the 2 MB default made every batch spill and re-read index
		// pages; this list had a 64 MB variant to show it).
		{"sqlite", newSQLite, benchEvents(b, 100_000)},
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
				var elapsed, cpu, ceil, server time.Duration
				var written int64
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					d := engine.open(b)
					ps := set.ps()
					var backends *backendCPU
					if d.db.Dialect == projections.Postgres {
						backends = &backendCPU{start: map[int]time.Duration{}}
						ps = backends.wrap(ps)
					}
					b.StartTimer()
					c, wr := cpuTime(), bytesWritten()
					elapsed += runAll(b, d, w.store, benchBatch(b), ps)
					cpu += cpuTime() - c
					written += bytesWritten() - wr
					server += backends.used()
					b.StopTimer()
					ceil += ceiling(b, d, engine.open(b))
					b.StartTimer()
				}
				b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
				// The same rows written with none of the projection's work, and how close
				// the projection comes to that.
				b.ReportMetric(float64(n*b.N)/ceil.Seconds(), "ceiling-events/s")
				b.ReportMetric(ceil.Seconds()/elapsed.Seconds(), "of-ceiling")
				// This process's CPU only (for Postgres, the server's is not counted):
				// what the figure would be with a core to itself.
				b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "events/cpu-s")
				if server > 0 {
					// PostgreSQL's side: the CPU of the server processes the projection's
					// transactions ran on. Client and server take turns (each statement
					// waits for its answer), so with a core each and nothing else
					// running the wall-clock rate would be about events/cpu-s-both.
					b.ReportMetric(float64(n*b.N)/server.Seconds(), "events/server-cpu-s")
					b.ReportMetric(float64(n*b.N)/(cpu+server).Seconds(), "events/cpu-s-both")
				}
				b.ReportMetric(float64(n), "events")
				// What this process wrote to files (the database, its log, temporary
				// files), in 4 KiB pages per event: SQLite's cost of the rows' indexes.
				if written > 0 {
					b.ReportMetric(float64(written)/4096/float64(n*b.N), "pages-written/event")
				}
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
		// BENCH_BATCH sets the size of every transaction, caught up or not.
		r.BatchSize, r.CatchUpBatchSize = batch, batch
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

// ceiling writes every row the catch-up left in from into the empty read model to, table
// by table (parents first), in one transaction, and returns how long that took. SQLite:
// a plain loop of one prepared INSERT per row. PostgreSQL: one multi-row INSERT per table
// (INSERT ... SELECT from an array of all its rows, sent as one parameter in the rows'
// own text form).
// Tables the fresh read model already has rows in (migration bookkeeping) are left out.
func ceiling(b *testing.B, from, to *testDB) time.Duration {
	ctx := context.Background()
	pg := from.db.Dialect == projections.Postgres
	list, parents := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
		`SELECT "table" FROM pragma_foreign_key_list(?)`
	if pg {
		list = `SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace
			AND relkind IN ('r', 'p') AND NOT relispartition`
		parents = `SELECT confrelid::regclass::text FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'`
	}
	strs := func(db projections.DB, q string, args ...any) []string {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			b.Fatalf("ceiling: %s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				b.Fatalf("ceiling: %v", err)
			}
			out = append(out, s)
		}
		return out
	}
	// Parents first, and only the tables with rows to copy.
	var order []string
	done := map[string]bool{}
	var visit func(t string)
	visit = func(t string) {
		if done[t] {
			return
		}
		done[t] = true
		for _, p := range strs(from.db, parents, t) {
			visit(strings.Trim(p, `"`))
		}
		order = append(order, t)
	}
	for _, t := range strs(from.db, list) {
		visit(t)
	}
	type table struct {
		name, insert string
		rows         [][]any // SQLite: the values; PostgreSQL: one array of every row
	}
	var tables []table
	for _, t := range order {
		var fresh, have int
		if err := to.db.QueryRowContext(ctx, `SELECT count(*) FROM "`+t+`"`).Scan(&fresh); err != nil {
			b.Fatalf("ceiling: %v", err)
		}
		if err := from.db.QueryRowContext(ctx, `SELECT count(*) FROM "`+t+`"`).Scan(&have); err != nil {
			b.Fatalf("ceiling: %v", err)
		}
		if fresh > 0 || have == 0 {
			continue
		}
		if pg {
			var all string
			if err := from.db.QueryRowContext(ctx, `SELECT array_agg(t)::text FROM "`+t+`" t`).Scan(&all); err != nil {
				b.Fatalf("ceiling: %v", err)
			}
			tables = append(tables, table{t, `INSERT INTO "` + t + `" SELECT (unnest($1::"` + t + `"[])).*`, [][]any{{all}}})
			continue
		}
		cols, vals := selectAll(b, from.db, `SELECT * FROM "`+t+`"`)
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
		tables = append(tables, table{t, `INSERT INTO "` + t + `" ("` + strings.Join(cols, `", "`) + `") VALUES (` + marks + `)`, vals})
	}

	begin := time.Now()
	tx, err := to.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatalf("ceiling: %v", err)
	}
	defer tx.Rollback()
	for _, t := range tables {
		st, err := tx.PrepareContext(ctx, t.insert)
		if err != nil {
			b.Fatalf("ceiling: %s: %v", t.name, err)
		}
		for _, v := range t.rows {
			if _, err := st.ExecContext(ctx, v...); err != nil {
				b.Fatalf("ceiling: %s: %v", t.name, err)
			}
		}
		st.Close()
	}
	if err := tx.Commit(); err != nil {
		b.Fatalf("ceiling: %v", err)
	}
	return time.Since(begin)
}

// bytesWritten is how many bytes this process has written with write system calls
// (Linux's /proc/self/io wchar), or 0 where that is not available.
func bytesWritten() int64 {
	io, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(io), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU counts the CPU time of the PostgreSQL server processes that projection
// transactions run on, when the server runs on this machine (/proc/<pid>/stat): from
// the first event each process handles to the end of the run.
type backendCPU struct {
	mu    sync.Mutex
	start map[int]time.Duration
	pids  []int
}

// wrap returns ps, each noting the server process of every transaction it handles.
func (c *backendCPU) wrap(ps []projections.Projection) []projections.Projection {
	out := make([]projections.Projection, len(ps))
	for i, p := range ps {
		out[i] = &onBackend{Projection: p, cpu: c}
	}
	return out
}

func (c *backendCPU) seen(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.start[pid]; ok {
		return
	}
	if t, ok := processCPU(pid); ok {
		c.start[pid] = t
		c.pids = append(c.pids, pid)
	}
}

// used is the CPU the noted processes spent since they were first noted (0 for nil).
func (c *backendCPU) used() time.Duration {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var total time.Duration
	for _, pid := range c.pids {
		if t, ok := processCPU(pid); ok {
			total += t - c.start[pid]
		}
	}
	return total
}

// processCPU reads a process's user and system time (clock ticks of 10 ms, fields 14 and
// 15 of /proc/<pid>/stat).
func processCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * 10 * time.Millisecond, true
}

// onBackend is a projection that asks, at the first event of each transaction, which
// server process it runs on (one round trip per transaction).
type onBackend struct {
	projections.Projection
	cpu   *backendCPU
	noted bool
}

func (o *onBackend) Begin() {
	o.noted = false
	if b, ok := o.Projection.(projections.Batcher); ok {
		b.Begin()
	}
}

func (o *onBackend) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	if !o.noted {
		var pid int
		if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			return err
		}
		o.cpu.seen(pid)
		o.noted = true
	}
	return o.Projection.Handle(ctx, tx, e)
}

func (o *onBackend) Flush(ctx context.Context, tx *projections.Tx) error {
	if b, ok := o.Projection.(projections.Batcher); ok {
		return b.Flush(ctx, tx)
	}
	return nil
}
