// Package projections turns the event store into read models. A Runner follows the
// all-stream from a projection's checkpoint and, per batch, applies the events and
// stores the new checkpoint in one transaction, so each event's effects are committed
// exactly once however often the store delivers it. One package per read model
// (projections/scans, projections/feed, projections/jobs) holds its projector and its
// queries.
package projections

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scanledger/scanledger/domain/backoff"
	"github.com/scanledger/scanledger/domain/event"
)

// Projection applies events to a read model. Name is its stable checkpoint key: change
// it only to rebuild the read model from the first event.
//
// Handle applies one event inside tx and returns an error if it cannot; the runner then
// rolls the whole transaction back. Handle must be deterministic (timestamps come from
// the event's metadata, never from the clock) and must have no effect outside tx: no
// network calls, no notifications, no in-memory state that outlives the transaction
// other than what Batcher.Begin resets.
type Projection interface {
	Name() string
	Handle(ctx context.Context, tx *Tx, e event.Recorded) error
}

// Batcher is implemented by projections that buffer their writes: Handle folds events
// into memory and Flush writes them with a few set-based statements, because a round
// trip per event is what limits catch-up speed.
type Batcher interface {
	// Begin is called at the start of every transaction; it drops anything buffered
	// by a transaction that was rolled back.
	Begin()
	// Flush writes what Handle buffered since Begin. The runner calls it once per
	// transaction, after the last Handle and before the checkpoint.
	Flush(ctx context.Context, tx *Tx) error
}

// Preparer is implemented by projections whose Handle spends much of its time on work
// that needs neither the transaction nor the projection's state, such as decoding an
// event's payload. While the runner commits one catch-up delivery it prepares the next
// on another goroutine (one delivery ahead at most), and hands each event's result to
// HandlePrepared instead of calling Handle.
type Preparer interface {
	// Prepare returns what HandlePrepared needs of e, an error included (HandlePrepared
	// returns it, so the event is retried and parked as if Handle had failed). It must
	// be safe to call while Handle or Flush runs on another goroutine, and have no
	// effects.
	Prepare(e event.Recorded) any
	// HandlePrepared does what Handle does, given what Prepare returned for e.
	HandlePrepared(ctx context.Context, tx *Tx, e event.Recorded, prepared any) error
}

// LockFunc takes the projection's exclusive lock (for example a Postgres advisory lock
// on a dedicated connection) and blocks until it holds it. held must be derived from
// ctx and be cancelled when the lock is lost (connection dropped); the runner then stops
// with ErrLockLost. release frees the lock.
type LockFunc func(ctx context.Context) (held context.Context, release func(), err error)

// Stats are a runner's counters since it was created.
type Stats struct {
	Name string
	// Applied counts events handled and committed; Skipped those delivered again
	// after they were applied; Parked those given up on.
	Applied, Skipped, Parked uint64
	// Batches counts committed transactions; Failures counts failed tries (a batch or
	// a single event), each followed by a retry or a park.
	Batches, Failures uint64
	// Position is the checkpoint: the last event applied or parked.
	Position event.Cursor
	// LastRecordedAt is when the store recorded that event.
	LastRecordedAt time.Time
	// Lag is how old that event was when its transaction committed.
	Lag time.Duration
	// Running is true between the start of Run and its return.
	Running bool
}

// Errors that stop Run because another process may now be writing the read model.
var (
	ErrLockLost        = errors.New("projection lock lost")
	ErrCheckpointMoved = errors.New("projection checkpoint moved by another writer")
)

// Runner feeds one projection from an event store. Set its exported fields before
// Run; their zero values are the defaults.
type Runner struct {
	// BatchSize is the most events applied in one transaction (at most 5000; default
	// 500 on SQLite, 2000 on Postgres, see Dialect). Larger batches amortise the
	// commit and the checkpoint write.
	BatchSize int
	// CatchUpBatchSize is the most events in one transaction while the runner is behind,
	// which it knows when the store delivers more than BatchSize events at once (default
	// and at most 5000; never below BatchSize). Live deliveries are what is new, so they
	// stay small and are seen soon; catching up commits far less often, holding the
	// write lock longer per commit.
	CatchUpBatchSize int
	// MinCommitInterval, when set, is the least time between the starts of two live
	// commits: after committing a small delivery (what is new while live) the runner
	// waits out the rest of the interval before it reads again, so the events that
	// arrive meanwhile share the next transaction. A commit costs far more than the
	// events of a live delivery, so under a steady stream this trades at most the
	// interval of latency for a commit per interval instead of one per event. An event
	// after a quiet spell is still committed at once, and a runner that is behind
	// (deliveries of paceBelow events or more) never waits.
	MinCommitInterval time.Duration
	// Retries is how many times an event that failed in a batch is tried alone before
	// it is parked (default 3).
	Retries int
	// Backoff is the wait before the second try of a failing event (default 100ms); it
	// doubles on each further try, up to MaxBackoff (default 2s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Lock, when set, is taken before running; see LockFunc.
	Lock LockFunc
	// OnCommit, when set, is called after each commit with the last event the
	// transaction covered. It runs on the goroutine that committed, one call at a time and
	// in order: it must not block (the live relay uses it to wake its poller).
	OnCommit func(name string, last event.Recorded)
	// Logger receives retries, parks and stops (default: discard).
	Logger *slog.Logger
	// Now is the wall clock for operational timestamps (checkpoint updated_at,
	// parked_at) and lag; projected data never uses it (default time.Now).
	Now func() time.Time

	store event.Store
	db    DB
	p     Projection

	stmts *stmtCache // nil where the driver caches statements itself (pgx)

	running atomic.Bool
	mu      sync.Mutex
	stats   Stats
}

// NewRunner returns a runner that applies store's events to p in db.
func NewRunner(store event.Store, db DB, p Projection) *Runner {
	r := &Runner{store: store, db: db, p: p}
	if db.Dialect.preparesInTx() {
		r.stmts = &stmtCache{}
	}
	r.stats.Name = p.Name()
	return r
}

func (r *Runner) batchSize() int {
	n := r.BatchSize
	if n <= 0 {
		n = r.db.Dialect.batchSize()
	}
	return min(n, 5000)
}

func (r *Runner) catchUpBatchSize() int {
	n := r.CatchUpBatchSize
	if n <= 0 {
		n = 5000
	}
	return min(max(n, r.batchSize()), 5000)
}

func (r *Runner) retries() int {
	if r.Retries <= 0 {
		return 3
	}
	return r.Retries
}

func (r *Runner) backoff() time.Duration {
	if r.Backoff <= 0 {
		return 100 * time.Millisecond
	}
	return r.Backoff
}

func (r *Runner) maxBackoff() time.Duration {
	if r.MaxBackoff <= 0 {
		return 2 * time.Second
	}
	return r.MaxBackoff
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Runner) log() *slog.Logger {
	l := r.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("projection", r.p.Name())
}

// Name is the projection's name.
func (r *Runner) Name() string { return r.p.Name() }

// Stats returns a snapshot of the counters.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run takes the lock (if any), reads the checkpoint and applies events from there,
// catching up and then following new events, until ctx is done (it returns ctx.Err()),
// the lock is lost (ErrLockLost), another writer moved the checkpoint
// (ErrCheckpointMoved), or the database fails. A failing event never stops it: it is
// retried and then parked; a failing database stops it without parking anything, even
// when Handle is what saw it fail. Run may be called again after it returns, never twice
// at once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return fmt.Errorf("projection %s: already running", r.Name())
	}
	defer r.running.Store(false)
	defer r.stmts.close()
	r.setRunning(true)
	defer r.setRunning(false)

	runCtx := ctx
	if r.Lock != nil {
		held, release, err := r.Lock(ctx)
		if err != nil {
			return fmt.Errorf("projection %s: lock: %w", r.Name(), err)
		}
		defer release()
		runCtx = held
	}

	pos, err := loadCheckpoint(runCtx, r.db, r.Name(), r.now())
	if err != nil {
		return r.stopped(ctx, runCtx, err)
	}
	r.mu.Lock()
	r.stats.Position = pos
	r.mu.Unlock()
	r.log().Info("projection started", "position", string(pos))

	// A catch-up delivery commits on its own goroutine while the store reads the next
	// one and the projection prepares it; the next delivery waits for that commit before
	// its own starts, so commits stay one at a time and in order. A failed commit stops
	// the subscription at once rather than at the next delivery, which may never come.
	subCtx, stopSub := context.WithCancel(runCtx)
	defer stopSub()
	var pending chan error // the commit of the previous catch-up delivery, if unfinished
	wait := func() error {
		if pending == nil {
			return nil
		}
		err := <-pending
		pending = nil
		return err
	}
	prep, _ := r.p.(Preparer)
	err = r.store.Subscribe(subCtx, pos, func(ctx context.Context, batch []event.Recorded) error {
		began, live := time.Now(), len(batch) < paceBelow
		var prepared []any
		if prep != nil && !live {
			prepared = make([]any, len(batch))
			for i, e := range batch {
				prepared[i] = prep.Prepare(e)
			}
		}
		if err := wait(); err != nil {
			return err
		}
		if !live {
			done := make(chan error, 1)
			pending = done
			go func() {
				// subCtx, not ctx: the commit outlives this call of the handler.
				err := r.applyDelivery(subCtx, batch, prepared)
				if err != nil {
					stopSub()
				}
				done <- err
			}()
			return nil
		}
		if err := r.applyDelivery(ctx, batch, nil); err != nil {
			return err
		}
		if wait := r.MinCommitInterval - time.Since(began); wait > 0 {
			return backoff.Sleep(ctx, wait)
		}
		return nil
	})
	if perr := wait(); perr != nil && runCtx.Err() == nil {
		err = perr // what stopped the subscription
	}
	return r.stopped(ctx, runCtx, err)
}

// applyDelivery commits what the store delivered at once, in batches of the runner's
// size. prepared, if not nil, holds what the projection's Prepare returned per event.
func (r *Runner) applyDelivery(ctx context.Context, batch []event.Recorded, prepared []any) error {
	size := r.batchSize()
	if len(batch) > size {
		size = r.catchUpBatchSize() // the store had more than a batch waiting
	}
	for len(batch) > 0 {
		n := min(len(batch), size)
		var p []any
		if prepared != nil {
			p, prepared = prepared[:n], prepared[n:]
		}
		if err := r.apply(ctx, batch[:n], p); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// paceBelow is the size from which a delivery means the runner is behind (the stores
// read 256 events at a time by default) rather than live: MinCommitInterval does not
// hold back a catch-up.
const paceBelow = 64

// stopped explains why Run ends: the caller's cancellation wins over a lost lock, which
// wins over whatever error it caused.
func (r *Runner) stopped(ctx, runCtx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case runCtx.Err() != nil:
		err = fmt.Errorf("projection %s: %w", r.Name(), ErrLockLost)
	default:
		err = fmt.Errorf("projection %s: %w", r.Name(), err)
	}
	r.log().Info("projection stopped", "err", err)
	return err
}

func (r *Runner) setRunning(v bool) {
	r.mu.Lock()
	r.stats.Running = v
	r.mu.Unlock()
}

// handleError is a failure of the projection itself (Handle or Flush), as opposed to
// the database or the context: only these are retried and parked.
type handleError struct {
	e   event.Recorded
	err error
}

func (h *handleError) Error() string {
	return fmt.Sprintf("handle %s %s@%d (%s): %v", h.e.Type, h.e.StreamID, h.e.Version, h.e.ID, h.err)
}

func (h *handleError) Unwrap() error { return h.err }

// apply commits a batch; when the projection fails on it, it falls back to one event
// per transaction so that only the event at fault is retried and, in the end, parked.
func (r *Runner) apply(ctx context.Context, batch []event.Recorded, prepared []any) error {
	err := r.commit(ctx, batch, prepared, nil)
	if err == nil || !r.retryable(ctx, err) {
		return err
	}
	r.count(func(s *Stats) { s.Failures++ })
	if len(batch) > 1 {
		r.log().Warn("batch failed, applying its events one by one", "events", len(batch), "err", err)
	}
	for _, e := range batch {
		if err := r.applyOne(ctx, e, len(batch) == 1); err != nil {
			return err
		}
	}
	return nil
}

// applyOne tries e alone with capped exponential backoff, then parks it. failedOnce is
// true when e already failed alone (a batch of one), so that try counts.
func (r *Runner) applyOne(ctx context.Context, e event.Recorded, failedOnce bool) error {
	pol := backoff.Policy{First: r.backoff(), Max: r.maxBackoff()}
	var delay time.Duration
	tries := 0
	if failedOnce {
		tries = 1
	}
	for {
		if tries > 0 {
			delay = pol.Next(delay)
			if err := backoff.Sleep(ctx, delay); err != nil {
				return err
			}
		}
		err := r.commit(ctx, []event.Recorded{e}, nil, nil)
		if err == nil || !r.retryable(ctx, err) {
			return err
		}
		tries++
		r.count(func(s *Stats) { s.Failures++ })
		if tries >= r.retries() {
			var he *handleError
			errors.As(err, &he)
			r.log().Error("parking event", "event_id", e.ID, "stream", e.StreamID, "version", e.Version,
				"type", e.Type, "tries", tries, "err", err)
			return r.commit(ctx, []event.Recorded{e}, nil, he)
		}
		r.log().Warn("event failed, retrying", "event_id", e.ID, "try", tries, "err", err)
	}
}

// retryable reports whether err is the projection failing on the events, which a
// retry, and in the end parking the event, deals with. Anything else (the database
// failing, the run being cancelled) is no fault of the events: parking one would lose
// it, so Run stops and resumes from the checkpoint when it is run again.
func (r *Runner) retryable(ctx context.Context, err error) bool {
	var he *handleError
	return errors.As(err, &he) && ctx.Err() == nil && !databaseFault(he.err)
}

// databaseFault reports whether an error returned by Handle or Flush is the database's
// rather than the event's: a lost connection, a cancelled statement, a server shutting
// down, or a transaction rolled back by a deadlock or serialization conflict.
func databaseFault(err error) bool {
	var netErr net.Error
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) {
		return true
	}
	// PostgreSQL's SQLSTATE classes 08 (connection), 40 (transaction rollback), 53
	// (insufficient resources), 57 (operator intervention) and 58 (system error); the
	// driver's error type is matched by its method so that no driver is imported here.
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) && len(coded.SQLState()) == 5 {
		switch coded.SQLState()[:2] {
		case "08", "40", "53", "57", "58":
			return true
		}
	}
	return false
}

// commit applies events (or, when park is set, parks the single event) and moves the
// checkpoint past them, all in one transaction. prepared, if not nil, holds what the
// projection's Prepare returned for each of events.
func (r *Runner) commit(ctx context.Context, events []event.Recorded, prepared []any, park *handleError) error {
	sqlTx, release, err := r.begin(ctx, len(events) > r.batchSize())
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		sqlTx.Rollback()
		release()
	}()
	tx := newTx(sqlTx, r.db.Dialect, r.stmts)

	applied, err := loadVersions(ctx, tx, r.Name(), events)
	if err != nil {
		return err
	}
	fresh := make([]event.Recorded, 0, len(events))
	var freshPrepared []any
	for i, e := range events {
		if v, ok := applied[e.StreamID]; ok && e.Version <= v {
			continue // delivered again: its effects are already committed
		}
		applied[e.StreamID] = e.Version
		fresh = append(fresh, e)
		if prepared != nil {
			freshPrepared = append(freshPrepared, prepared[i])
		}
	}
	skipped := uint64(len(events) - len(fresh))
	if len(fresh) == 0 {
		// Nothing to write, and the checkpoint must not move back to an old batch.
		r.count(func(s *Stats) { s.Skipped += skipped })
		return nil
	}
	last := fresh[len(fresh)-1]
	now := r.now()

	// Claim the checkpoint first: a second writer blocks here, then finds the position
	// moved and gives up before doing any work.
	r.mu.Lock()
	from := r.stats.Position
	r.mu.Unlock()
	if err := moveCheckpoint(ctx, tx, r.Name(), from, last.Position, now); err != nil {
		return err
	}

	if park != nil {
		if err := parkEvent(ctx, tx, r.Name(), last, park.err, now); err != nil {
			return err
		}
	} else {
		b, batched := r.p.(Batcher)
		if batched {
			b.Begin()
		}
		prep, _ := r.p.(Preparer)
		for i, e := range fresh {
			var err error
			if freshPrepared != nil && prep != nil {
				err = prep.HandlePrepared(ctx, tx, e, freshPrepared[i])
			} else {
				err = r.p.Handle(ctx, tx, e)
			}
			if err != nil {
				return &handleError{e: e, err: err}
			}
		}
		if batched {
			if err := b.Flush(ctx, tx); err != nil {
				return &handleError{e: last, err: err}
			}
		}
	}
	if err := saveVersions(ctx, tx, r.Name(), fresh); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	release() // before fill: SQLite's pool has this one connection
	r.stmts.fill(ctx, r.db.DB, tx.missed)

	r.count(func(s *Stats) {
		if park != nil {
			s.Parked++
		} else {
			s.Applied += uint64(len(fresh))
		}
		s.Skipped += skipped
		s.Batches++
		s.Position = last.Position
		s.LastRecordedAt = last.RecordedAt
		s.Lag = now.Sub(last.RecordedAt)
	})
	if r.OnCommit != nil {
		r.OnCommit(r.Name(), last)
	}
	return nil
}

// begin starts a projection transaction. Where the dialect relaxes the connection's sync
// level for it (see Dialect.syncLevels), the transaction runs on a connection held until
// release, which ends the transaction's hold and restores the level: a connection left
// relaxed would make the event store's appends on it undurable, so one that cannot be
// restored is closed instead of going back to the pool. release may be called more than
// once, and only after the transaction has ended. behind: the transaction is a catch-up
// batch (more events than the live batch).
func (r *Runner) begin(ctx context.Context, behind bool) (*sql.Tx, func(), error) {
	before, after := r.db.Dialect.syncLevels(behind)
	if before == "" {
		tx, err := r.db.BeginTx(ctx, nil)
		return tx, func() {}, err
	}
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), after); err != nil {
			r.log().Warn("closing a connection whose sync level could not be restored", "err", err)
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}
	if _, err := conn.ExecContext(ctx, before); err != nil {
		release()
		return nil, nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		release()
		return nil, nil, err
	}
	return tx, release, nil
}

func (r *Runner) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// Restart pauses of Keep: the first is short, since most failures are a dropped
// connection to a server that is back at once; the cap bounds how long a projection
// stays behind once its database is back after a long outage.
const (
	restartFirstBackoff = 100 * time.Millisecond
	restartMaxBackoff   = 3 * time.Second
	// keepHealthy is how long a run must last to count as healthy when it applied
	// nothing (a quiet system).
	keepHealthy = 10 * time.Second
)

// Keep runs the projection until ctx is done, whatever happens to its database: each
// time Run fails (the database went away, the lock was lost, another writer moved the
// checkpoint) it logs why and runs again after a pause that doubles from 100ms up to
// 3s, with jitter so that instances do not reconnect in lockstep. A run that got as far
// as applying events, or lasted 10s, starts the pauses over. Run again takes the lock and reads the
// checkpoint, so nothing is applied twice or skipped. It returns ctx.Err().
func (r *Runner) Keep(ctx context.Context) error {
	restart := backoff.Policy{First: restartFirstBackoff, Max: restartMaxBackoff}
	pause := time.Duration(0)
	for {
		applied, began := r.Stats().Batches, time.Now()
		err := r.Run(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.Stats().Batches > applied || time.Since(began) > keepHealthy {
			pause = 0
		}
		pause = restart.Next(pause)
		jittered := backoff.Jitter(pause)
		r.log().Warn("projection will restart", "in", jittered.Round(time.Millisecond), "err", err)
		if err := backoff.Sleep(ctx, jittered); err != nil {
			return err
		}
	}
}
