package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/analytics"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/jobs"
	"github.com/scanledger/scanledger/projections/scans"
)

const projectionsUsage = `usage: scanledger projections <command> [flags]

  list | status [NAME]      position, lag (events and age), parked events per projection
  rebuild NAME              rebuild in place; the server must be stopped
  rebuild NAME --beside     build a fresh copy beside the live one while the server serves
  swap NAME                 make the copy live in one transaction (the API keeps answering)
  discard NAME              drop a copy that will not be swapped
  parked list [NAME]        events a projection gave up on, waiting for a decision
  parked show EVENT_ID [NAME]    one parked event, with its data
  parked retry EVENT_ID [NAME]   apply it again (after deploying the fix)
  parked skip EVENT_ID [NAME] --note WHY   record that it stays unapplied
  (without NAME, retry and skip act for every projection that parked the event)
`

// projectionKind is a projection as serve runs it, and what a rebuild may do to it.
type projectionKind struct {
	name string
	// live is the projection as serve runs it: a retried parked event goes through it.
	// c opens the personal fields of events (the read model's keys).
	live func(c *personal.Cipher) projections.Projection
	// rebuild is what a rebuild applies; nil when the projection is never rebuilt, for
	// the reason in why.
	rebuild func(c *personal.Cipher) projections.Projection
	why     string
	// quiet projections wake neither hub nor worker: nobody waits on their commits.
	quiet bool
	// background projections are read by no browser waiting for a live message (the
	// job queue, analytics): they may commit less often while live.
	background bool
	// tables and views are what a rebuild replaces; kept are tables under the same
	// checkpoint that it leaves alone.
	tables, views, kept []string
}

// projectionKinds lists the projections serve runs (App.Open runs each kind's live
// projection) and the projections command rebuilds.
func projectionKinds() []projectionKind {
	return []projectionKind{
		{
			name: readModelGroup,
			live: func(c *personal.Cipher) projections.Projection {
				return projections.NewGroup(readModelGroup, scansProjector(c), feed.NewProjector())
			},
			// The feed is never projected again: its rows are messages already sent, and
			// their ids are where clients resume. A forgotten user's address comes out as
			// personal.Erased.
			rebuild: func(c *personal.Cipher) projections.Projection {
				return projections.NewGroup(readModelGroup, scansProjector(c))
			},
			tables: scans.Tables, views: scans.Views, kept: feed.Tables,
		},
		{
			name:       jobs.Name,
			live:       func(*personal.Cipher) projections.Projection { return jobs.NewProjector() },
			background: true,
			why:        "scan_jobs is the workers' queue: its leases and claims are recorded by no event, so a rebuild would lose them",
			kept:       jobs.Tables,
		},
		{
			name:    analytics.Name,
			live:    func(*personal.Cipher) projections.Projection { return analytics.NewProjector() },
			rebuild: func(*personal.Cipher) projections.Projection { return analytics.NewProjector() },
			tables:  analytics.Tables,
			// Its own checkpoint: a read model that predates it catches up from the first
			// event.
			quiet: true, background: true,
		},
	}
}

// scansProjector is the scans projector opening personal fields with c.
func scansProjector(c *personal.Cipher) *scans.Projector {
	p := scans.NewProjector()
	p.Cipher = c
	return p
}

func projectionKindNamed(name string) (projectionKind, error) {
	var names []string
	for _, k := range projectionKinds() {
		if k.name == name {
			return k, nil
		}
		names = append(names, k.name)
	}
	return projectionKind{}, fmt.Errorf("no projection %q (there are %s)", name, strings.Join(names, ", "))
}

// runProjections is `scanledger projections ...`.
func runProjections(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, projectionsUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	if sub == "parked" {
		if len(args) == 0 {
			fmt.Fprint(stderr, projectionsUsage)
			return errors.New("projections parked: list, show, retry or skip")
		}
		sub, args = "parked "+args[0], args[1:]
	}
	var cfg Config
	fs, err := cfg.parse("projections "+sub, nil, stderr)
	if err != nil {
		return err
	}
	beside := fs.Bool("beside", false, "rebuild: build beside the live projection while the server serves, for swap")
	note := fs.String("note", "", "parked retry|skip: why (recorded with the decision)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	need := func(n int, what string) error {
		if len(pos) != n {
			return fmt.Errorf("usage: scanledger projections %s %s", sub, what)
		}
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := openEngines(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer e.close()
	c := &projectionsCmd{cfg: cfg, e: e, log: log, stdout: stdout, stderr: stderr}

	switch sub {
	case "list", "status":
		if len(pos) > 1 {
			return need(1, "[NAME]")
		}
		return c.status(ctx, pos, sub == "status")
	case "rebuild":
		if err := need(1, "NAME [--beside]"); err != nil {
			return err
		}
		return c.rebuild(ctx, pos[0], *beside)
	case "swap":
		if err := need(1, "NAME"); err != nil {
			return err
		}
		return c.swap(ctx, pos[0])
	case "discard":
		if err := need(1, "NAME"); err != nil {
			return err
		}
		k, err := projectionKindNamed(pos[0])
		if err != nil {
			return err
		}
		if err := c.dropCopy(ctx, k); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "the copy of %s is gone\n", k.name)
		return nil
	case "parked list":
		if len(pos) > 1 {
			return need(1, "[NAME]")
		}
		return c.parkedList(ctx, append(pos, "")[0])
	case "parked show":
		if len(pos) < 1 || len(pos) > 2 {
			return need(1, "EVENT_ID [NAME]")
		}
		return c.parkedShow(ctx, pos[0], append(pos, "")[1])
	case "parked retry", "parked skip":
		if len(pos) < 1 || len(pos) > 2 {
			return need(1, "EVENT_ID [NAME] [--note WHY]")
		}
		if sub == "parked skip" && strings.TrimSpace(*note) == "" {
			return errors.New("projections parked skip: say why with --note (it is recorded with the decision)")
		}
		return c.parkedDecide(ctx, sub == "parked retry", pos[0], append(pos, "")[1], *note)
	}
	fmt.Fprint(stderr, projectionsUsage)
	return fmt.Errorf("unknown command projections %s", sub)
}

// parseInterleaved parses flags that come before, between or after the positional
// arguments, and returns those.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

type projectionsCmd struct {
	cfg    Config
	e      *engines
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
}

// lagCap bounds how many events status counts behind a checkpoint.
const lagCap = 100_000

// status prints each projection's position, how far behind the event store it is and
// how many of its events are parked; with detail, also what it owns and any copy.
func (c *projectionsCmd) status(ctx context.Context, only []string, detail bool) error {
	names := map[string]bool{}
	var order []string
	for _, k := range projectionKinds() {
		names[k.name] = true
		order = append(order, k.name)
	}
	// Checkpoints of projections this build no longer runs show too.
	rows, err := c.e.read.QueryContext(ctx, `SELECT name FROM projection_checkpoints ORDER BY name`)
	if err != nil {
		return fmt.Errorf("list projections: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("list projections: %w", err)
		}
		if !names[n] {
			names[n] = true
			order = append(order, n)
		}
	}
	rows.Close()
	if len(only) == 1 {
		if !names[only[0]] {
			return fmt.Errorf("no projection %q", only[0])
		}
		order = only
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPOSITION\tLAG EVENTS\tLAG\tPARKED\tUPDATED")
	now := time.Now()
	for _, name := range order {
		pos, updated, err := projections.Checkpoint(ctx, c.e.read, name)
		if err != nil {
			return err
		}
		behind, oldest, err := c.lag(ctx, pos)
		if err != nil {
			return err
		}
		parked, err := projections.ListParked(ctx, c.e.read, name)
		if err != nil {
			return err
		}
		count := fmt.Sprint(behind)
		if behind >= lagCap {
			count = fmt.Sprintf(">=%d", lagCap)
		}
		age := "0s"
		if behind > 0 {
			age = now.Sub(oldest).Round(time.Second).String()
		}
		shown, when := string(pos), "never"
		if shown == "" {
			shown = "(start)"
		}
		if !updated.IsZero() {
			when = updated.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", name, shown, count, age, len(parked), when)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !detail {
		return nil
	}
	for _, name := range order {
		k, err := projectionKindNamed(name)
		if err != nil {
			fmt.Fprintf(c.stdout, "\n%s: not run by this build\n", name)
			continue
		}
		fmt.Fprintf(c.stdout, "\n%s\n", name)
		if k.rebuild == nil {
			fmt.Fprintf(c.stdout, "  owns %s; not rebuilt: %s\n", strings.Join(k.kept, ", "), k.why)
			continue
		}
		fmt.Fprintf(c.stdout, "  a rebuild replaces %s\n", strings.Join(append(append([]string{}, k.tables...), k.views...), ", "))
		if len(k.kept) > 0 {
			fmt.Fprintf(c.stdout, "  and keeps %s (never projected again)\n", strings.Join(k.kept, ", "))
		}
		if ok, err := c.copyExists(ctx, k); err != nil {
			return err
		} else if ok {
			fmt.Fprintf(c.stdout, "  a rebuilt copy is waiting: scanledger projections swap %s\n", name)
		}
	}
	return nil
}

// lag counts the events after pos (up to lagCap) and returns when the first was recorded.
func (c *projectionsCmd) lag(ctx context.Context, pos event.Cursor) (int, time.Time, error) {
	var n int
	var first time.Time
	for n < lagCap {
		evs, err := c.e.store.ReadAll(ctx, pos, 1000)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("read the event store: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		if n == 0 {
			first = evs[0].RecordedAt
		}
		n += len(evs)
		pos = evs[len(evs)-1].Position
	}
	return n, first, nil
}

// sqliteReadModel is the read model's SQLite file, or "" when it is PostgreSQL.
func (c *projectionsCmd) sqliteReadModel() string {
	if c.e.pgRM == nil && c.e.sqlite != nil {
		return c.e.sqlite.Path
	}
	return ""
}

func (c *projectionsCmd) copyFile(k projectionKind) string {
	return c.sqliteReadModel() + ".rebuild-" + k.name
}

// copySchema is the PostgreSQL schema a copy is built in, beside the live schema.
func (c *projectionsCmd) copySchema(ctx context.Context, k projectionKind) (string, error) {
	var live string
	if err := c.e.write.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&live); err != nil {
		return "", fmt.Errorf("read the live schema: %w", err)
	}
	return live + "_rebuild_" + k.name, nil
}

func (c *projectionsCmd) copyExists(ctx context.Context, k projectionKind) (bool, error) {
	if c.sqliteReadModel() != "" {
		_, err := os.Stat(c.copyFile(k))
		return err == nil, nil
	}
	schema, err := c.copySchema(ctx, k)
	if err != nil {
		return false, err
	}
	var n int
	if err := c.e.write.QueryRowContext(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		return false, fmt.Errorf("look for a copy: %w", err)
	}
	return n > 0, nil
}

func (c *projectionsCmd) dropCopy(ctx context.Context, k projectionKind) error {
	if c.sqliteReadModel() != "" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(c.copyFile(k) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove the copy: %w", err)
			}
		}
		return nil
	}
	schema, err := c.copySchema(ctx, k)
	if err != nil {
		return err
	}
	if _, err := c.e.write.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
		return fmt.Errorf("drop the copy: %w", err)
	}
	return nil
}

// openCopy opens k's copy, creating it empty (with the whole read-model schema, its
// own checkpoints and version guard) when fresh.
func (c *projectionsCmd) openCopy(ctx context.Context, k projectionKind, fresh bool) (projections.DB, projections.Copy, func(), error) {
	cp := projections.Copy{Name: k.name, Tables: k.tables, Views: k.views}
	if fresh {
		if err := c.dropCopy(ctx, k); err != nil {
			return projections.DB{}, cp, nil, err
		}
	} else if ok, err := c.copyExists(ctx, k); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("no rebuilt copy of %s: run scanledger projections rebuild %s --beside first", k.name, k.name)
		}
		return projections.DB{}, cp, nil, err
	}
	if c.sqliteReadModel() != "" {
		cp.File = c.copyFile(k)
		db, err := sqlite.Open(ctx, cp.File, migrations.ReadModel)
		if err != nil {
			return projections.DB{}, cp, nil, err
		}
		return projections.DB{DB: db.Write, Dialect: projections.SQLite}, cp, func() { db.Close() }, nil
	}
	schema, err := c.copySchema(ctx, k)
	if err != nil {
		return projections.DB{}, cp, nil, err
	}
	cp.Schema = schema
	if fresh {
		if _, err := c.e.write.ExecContext(ctx, `CREATE SCHEMA "`+schema+`"`); err != nil {
			return projections.DB{}, cp, nil, fmt.Errorf("create the copy: %w", err)
		}
	}
	rm := c.cfg.ReadModel
	if !isPostgres(rm) {
		rm = c.cfg.EventStore
	}
	u, err := url.Parse(rm)
	if err != nil {
		return projections.DB{}, cp, nil, fmt.Errorf("config readmodel: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := postgres.OpenDB(ctx, u.String())
	if err != nil {
		return projections.DB{}, cp, nil, err
	}
	if fresh {
		if err := db.Migrate(ctx, migrations.ReadModel); err != nil {
			db.Close()
			return projections.DB{}, cp, nil, err
		}
	}
	return projections.DB{DB: db.SQL(), Dialect: projections.Postgres}, cp, db.Close, nil
}

// rebuild builds k afresh beside the live projection up to where that is now; in place
// (not beside) it also swaps, holding what keeps a server from running it meanwhile.
func (c *projectionsCmd) rebuild(ctx context.Context, name string, beside bool) error {
	k, err := projectionKindNamed(name)
	if err != nil {
		return err
	}
	if k.rebuild == nil {
		return fmt.Errorf("projection %s is not rebuilt: %s", k.name, k.why)
	}
	if !beside {
		release, err := c.holdStopped(ctx, k)
		if err != nil {
			return err
		}
		defer release()
	}
	copyDB, _, closeCopy, err := c.openCopy(ctx, k, true)
	if err != nil {
		return err
	}
	target, _, err := projections.Checkpoint(ctx, c.e.read, k.name)
	if err != nil {
		closeCopy()
		return err
	}
	err = c.build(ctx, k, copyDB, target)
	closeCopy()
	if err != nil {
		return err
	}
	if beside {
		fmt.Fprintf(c.stdout, "%s is rebuilt beside the live one; make it live with: scanledger projections swap %s\n", k.name, k.name)
		return nil
	}
	return c.swap(ctx, k.name)
}

// holdStopped refuses while a server runs k, and keeps one from starting to run it
// until release: the data dir lock in embedded mode, the projection's own advisory lock
// on PostgreSQL.
func (c *projectionsCmd) holdStopped(ctx context.Context, k projectionKind) (func(), error) {
	if c.sqliteReadModel() != "" {
		unlock, err := lockDataDir(c.cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("rebuild %s in place needs the server stopped (%v); while it serves, use rebuild %s --beside, then swap %s",
				k.name, err, k.name, k.name)
		}
		return unlock, nil
	}
	release, ok, err := c.e.pgRM.TryProjectionLock(ctx, k.name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("rebuild %s in place needs every server stopped: one is running the projection (it holds its lock); while they serve, use rebuild %s --beside, then swap %s",
			k.name, k.name, k.name)
	}
	return release, nil
}

// rebuilder is a runner that rebuilds k in copyDB from the event store.
func (c *projectionsCmd) rebuilder(copyDB projections.DB, k projectionKind) *projections.Runner {
	r := projections.NewRunner(c.e.store, copyDB, k.rebuild(c.e.cipher()))
	r.Logger = c.log
	return r
}

// build applies the events up to target to the copy, showing progress.
func (c *projectionsCmd) build(ctx context.Context, k projectionKind, copyDB projections.DB, target event.Cursor) error {
	total := c.countEvents(ctx)
	var seen atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(finished)
		c.progress(k.name, &seen, total, began, done)
	}()
	err := projections.RunUntil(ctx, c.rebuilder(copyDB, k), target, &seen)
	close(done)
	<-finished
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", k.name, err)
	}
	parked, err := projections.ListParked(ctx, copyDB, k.name)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "rebuilt %s: %d events in %s, %d parked\n", k.name, seen.Load(), time.Since(began).Round(time.Millisecond), len(parked))
	return nil
}

// countEvents is how many events the store holds, for the progress bar's total; 0 when
// the store cannot tell cheaply (KurrentDB).
func (c *projectionsCmd) countEvents(ctx context.Context) int64 {
	var n int64
	switch {
	case c.e.sqlite != nil:
		_ = c.e.sqlite.Read.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n)
	case c.e.pgES != nil:
		_ = c.e.pgES.SQL().QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n)
	}
	return n
}

// progress draws a bar with an ETA on a terminal, and a line every few seconds
// elsewhere, until done.
func (c *projectionsCmd) progress(name string, seen *atomic.Int64, total int64, began time.Time, done <-chan struct{}) {
	tty := false
	if f, ok := c.stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 5 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			if tty {
				fmt.Fprint(c.stderr, "\r\033[K")
			}
			return
		case <-t.C:
		}
		n, elapsed := seen.Load(), time.Since(began)
		rate := float64(n) / elapsed.Seconds()
		line := fmt.Sprintf("rebuilding %s: %d events, %.0f/s", name, n, rate)
		if total > 0 && n > 0 {
			frac := min(float64(n)/float64(total), 1)
			eta := time.Duration(float64(elapsed) * (1 - frac) / frac).Round(time.Second)
			const width = 30
			bar := strings.Repeat("#", int(frac*width)) + strings.Repeat("-", width-int(frac*width))
			line = fmt.Sprintf("rebuilding %s [%s] %3.0f%% %d/%d events, %.0f/s, ETA %s", name, bar, frac*100, n, total, rate, eta)
		}
		if tty {
			fmt.Fprint(c.stderr, "\r\033[K"+line)
		} else {
			fmt.Fprintln(c.stderr, line)
		}
	}
}

// swap makes k's copy live: it catches the copy up to the live projection without
// holding anything, then holds the live checkpoint for the short remainder and swaps.
func (c *projectionsCmd) swap(ctx context.Context, name string) error {
	k, err := projectionKindNamed(name)
	if err != nil {
		return err
	}
	if k.rebuild == nil {
		return fmt.Errorf("projection %s is not rebuilt: %s", k.name, k.why)
	}
	copyDB, cp, closeCopy, err := c.openCopy(ctx, k, false)
	if err != nil {
		return err
	}
	catchUp := func(ctx context.Context, target event.Cursor) error {
		return projections.RunUntil(ctx, c.rebuilder(copyDB, k), target, nil)
	}
	target, _, err := projections.Checkpoint(ctx, c.e.read, k.name)
	if err == nil {
		err = catchUp(ctx, target)
	}
	live := c.e.write
	if err == nil && c.sqliteReadModel() != "" {
		// The swap keeps its connection (and the write lock) to the end while the
		// catch-up reads events through the store, which may still have to prepare
		// statements on its own single write connection: the swap gets another.
		var own *sqlite.DB
		if own, err = sqlite.Open(ctx, c.e.sqlite.Path); err == nil {
			defer own.Close()
			live = projections.DB{DB: own.Write, Dialect: projections.SQLite}
		}
	}
	if err == nil {
		err = projections.Swap(ctx, live, cp, catchUp)
	}
	closeCopy()
	if err != nil {
		return err
	}
	if cp.File != "" {
		if err := c.dropCopy(ctx, k); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.stdout, "%s swapped: the rebuilt tables are live\n", k.name)
	return nil
}

func (c *projectionsCmd) parkedList(ctx context.Context, name string) error {
	parked, err := projections.ListParked(ctx, c.e.read, name)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTION\tEVENT\tTYPE\tSTREAM@VERSION\tPARKED\tERROR")
	for _, p := range parked {
		msg := p.Error
		if len(msg) > 80 {
			msg = msg[:77] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s@%d\t%s\t%s\n", p.Projection, p.EventID, p.Type, p.StreamID, p.Version,
			p.ParkedAt.UTC().Format(time.RFC3339), msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "(%d parked)\n", len(parked))
	return nil
}

// parkedShow prints the event as each projection that parked it (or only NAME) saw it.
func (c *projectionsCmd) parkedShow(ctx context.Context, id, name string) error {
	var found []projections.Parked
	for _, k := range projectionKinds() {
		if name != "" && k.name != name {
			continue
		}
		p, err := projections.GetParked(ctx, c.e.read, k.name, id)
		if errors.Is(err, projections.ErrNotParked) {
			continue
		}
		if err != nil {
			return err
		}
		found = append(found, p)
	}
	if len(found) == 0 {
		return fmt.Errorf("parked event %s: %w", id, projections.ErrNotParked)
	}
	for _, p := range found {
		fmt.Fprintf(c.stdout, "projection  %s\nevent       %s\ntype        %s\nstream      %s@%d\nposition    %s\nparked at   %s\nerror       %s\n",
			p.Projection, p.EventID, p.Type, p.StreamID, p.Version, p.Position, p.ParkedAt.UTC().Format(time.RFC3339), p.Error)
		if p.Resolution != "" {
			fmt.Fprintf(c.stdout, "resolution  %s at %s: %s\n", p.Resolution, p.ResolvedAt.UTC().Format(time.RFC3339), p.Note)
		}
		fmt.Fprintln(c.stdout)
	}
	e, err := c.parkedEvent(ctx, found[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "data        %s\nmetadata    %s\n", e.Data, e.Metadata)
	return nil
}

func (c *projectionsCmd) parkedEvent(ctx context.Context, p projections.Parked) (event.Recorded, error) {
	evs, err := c.e.store.ReadStream(ctx, p.StreamID, p.Version, 1)
	if err != nil {
		return event.Recorded{}, fmt.Errorf("read parked event %s: %w", p.EventID, err)
	}
	if len(evs) != 1 || evs[0].ID != p.EventID {
		return event.Recorded{}, fmt.Errorf("parked event %s is not in the event store at %s@%d", p.EventID, p.StreamID, p.Version)
	}
	return evs[0], nil
}

// parkedDecide retries or skips the event for every projection that parked it and
// waits for a decision (or only NAME).
func (c *projectionsCmd) parkedDecide(ctx context.Context, retry bool, id, name, note string) error {
	waiting, err := projections.ListParked(ctx, c.e.read, name)
	if err != nil {
		return err
	}
	var decided int
	for _, p := range waiting {
		if p.EventID != id {
			continue
		}
		if retry { // skipping needs only the name: a retired projection's events can be skipped
			k, err := projectionKindNamed(p.Projection)
			if err != nil {
				return err
			}
			e, err := c.parkedEvent(ctx, p)
			if err != nil {
				return err
			}
			if err := projections.Retry(ctx, c.e.write, k.live(c.e.cipher()), e, note, time.Now()); err != nil {
				return fmt.Errorf("%s: %w", p.Projection, err)
			}
			fmt.Fprintf(c.stdout, "%s applied by %s\n", p.EventID, p.Projection)
		} else {
			if err := projections.Skip(ctx, c.e.write, p.Projection, p.EventID, note, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s stays unapplied by %s: recorded\n", p.EventID, p.Projection)
		}
		decided++
	}
	if decided == 0 {
		return fmt.Errorf("parked event %s: %w, or it has a decision already (parked show %s)", id, projections.ErrNotParked, id)
	}
	return nil
}
