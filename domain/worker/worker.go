// Package worker is the process manager that turns a started scan attempt into a result:
// it claims a job with a lease, reports progress at real milestones, calls the analyzer
// with a deadline and appends Completed or Failed. It depends only on small interfaces,
// so the same code runs on every engine.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// Job is one claimed scan attempt.
type Job struct {
	ScanID  string
	Attempt int
	// Claims counts how many times the job was claimed, this claim included. More than
	// one means an earlier worker took it and never finished (it crashed or hung).
	Claims int

	// cause is the metadata of the attempt's events, found when the job runs (see
	// attemptMeta).
	cause scan.Meta
}

// Jobs is the job queue (projections/jobs implements it).
//
// Claim returns the oldest pending job whose lease is free or expired, leased to owner
// until now+lease, or nil when there is none. Extend pushes the lease of a job this
// owner holds; it fails when the lease was lost. Release gives the lease up. HandBack
// gives it up and takes the claim back, for a job left untouched (a worker shutting
// down before the analysis answered): its next claimer starts it afresh instead of
// taking over an abandoned attempt. Expire ends at once every lease owner holds, for a
// worker starting again under the owner id of a life that crashed, and returns how many
// it ended.
type Jobs interface {
	Claim(ctx context.Context, owner string, lease time.Duration, now time.Time) (*Job, error)
	Extend(ctx context.Context, job Job, owner string, lease time.Duration, now time.Time) error
	Release(ctx context.Context, job Job, owner string) error
	HandBack(ctx context.Context, job Job, owner string) error
	Expire(ctx context.Context, owner string, now time.Time) (int, error)
}

// Signer makes URLs the analyzer can fetch photos with.
type Signer interface {
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Worker runs jobs.
type Worker struct {
	Jobs     Jobs
	Scans    *scan.Handler
	Analyzer analysis.Analyzer
	Signer   Signer
	Logger   *slog.Logger
	// Prices, when set, prices agent runs the analyzer reported no cost for.
	Prices Prices

	// Owner is the lease owner id: unique among running workers, and the same across
	// restarts of one instance, so that a restarted instance takes back at once the
	// jobs its previous life held (see Run).
	Owner string
	// Drain is how long jobs under way may go on once Run's ctx is done (a graceful
	// shutdown): a job that finishes in time is stored as usual, one that does not is
	// handed back for another worker to start afresh, never recorded as a failure.
	Drain       time.Duration
	Concurrency int           // jobs run at once (default 1)
	Lease       time.Duration // lease length (default 30 s); renewed every Lease/3
	Poll        time.Duration // how often to look for jobs without a wake-up (default 1 s)
	Deadline    time.Duration // analyzer deadline per attempt (default 300 s)
	MaxRetries  int           // automatic retries per processing request (default 2)
	URLTTL      time.Duration // lifetime of photo URLs given to the analyzer (default 1 h)
	// Wake, when set, signals that a job may be waiting (new ProcessingStarted).
	Wake <-chan struct{}
	Now  func() time.Time

	counters counters // see Stats
}

func (w *Worker) defaults() {
	if w.Concurrency <= 0 {
		w.Concurrency = 1
	}
	if w.Lease <= 0 {
		w.Lease = 30 * time.Second
	}
	if w.Poll <= 0 {
		w.Poll = time.Second
	}
	if w.Deadline <= 0 {
		w.Deadline = 300 * time.Second
	}
	if w.MaxRetries < 0 {
		w.MaxRetries = 0
	}
	if w.URLTTL <= 0 {
		w.URLTTL = time.Hour
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	if w.Owner == "" {
		w.Owner = "worker-" + domain.NewID()
	}
}

// Run works until ctx is done, then drains: it claims nothing more and gives the jobs
// under way up to Drain to finish (see Drain). First it ends the leases a previous life
// of this Owner still holds: that life crashed (a clean stop releases its jobs), so its
// jobs need not wait for their leases to run out.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	w.expireOwnLeases(ctx)
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(w.Drain, stopWork) })
	defer stopDrain()
	var wg sync.WaitGroup
	for i := 0; i < w.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, work)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// expireOwnLeases runs Expire for Owner, retrying while the job queue does not answer
// (the database may still be starting), until ctx is done.
func (w *Worker) expireOwnLeases(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		n, err := w.Jobs.Expire(ctx, w.Owner, w.Now())
		if err == nil {
			if n > 0 {
				w.Logger.Warn("took back the jobs of this worker's previous life", "owner", w.Owner, "jobs", n)
			}
			return
		}
		backoff = min(max(2*backoff, errFirstBackoff), errMaxBackoff)
		w.Logger.Warn("take back the jobs of this worker's previous life", "owner", w.Owner, "err", err)
		if sleep(ctx, jitter(backoff)) != nil {
			return
		}
	}
}

// errHandBack ends a job that a shutdown interrupted before the analysis answered.
var errHandBack = errors.New("shutting down: job handed back")

// Pauses after a failed round (the job queue's database away): doubled from the first
// up to the cap, with jitter, and not cut short by wake-ups, so an outage costs one
// attempt per pause rather than one per commit elsewhere.
const (
	errFirstBackoff = 100 * time.Millisecond
	errMaxBackoff   = 5 * time.Second
)

// loop claims jobs while ctx lasts and runs each on work, which outlives ctx by Drain.
func (w *Worker) loop(ctx, work context.Context) {
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		worked, err := w.runOnce(ctx, work)
		if err != nil && ctx.Err() == nil {
			w.Logger.Error("worker", "err", err)
			backoff = min(max(2*backoff, errFirstBackoff), errMaxBackoff)
			_ = sleep(ctx, jitter(backoff))
			continue
		}
		backoff = 0
		if worked {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-w.Wake:
		}
	}
}

// jitter spreads d over [d/2, d], so that workers do not retry in lockstep.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// untilStored runs an append of the job's outcome again while it fails because the
// database is unavailable, until it is stored or ctx ends (shutdown, or the lease was
// lost: then the outcome is dropped, and the job's next claimer decides). The outcome
// of a finished analysis is worth waiting a short outage for.
func (w *Worker) untilStored(ctx context.Context, f func() error) error {
	backoff := time.Duration(0)
	for {
		err := f()
		if err == nil || domain.ErrorCode(err) != domain.EUNAVAILABLE {
			return err
		}
		backoff = min(max(2*backoff, errFirstBackoff), errMaxBackoff)
		w.Logger.Warn("storing the outcome of a job: the database is unavailable, retrying", "err", err)
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return err
		}
	}
}

// RunOnce claims and runs at most one job; it reports whether it found one.
func (w *Worker) RunOnce(ctx context.Context) (bool, error) {
	w.defaults()
	return w.runOnce(ctx, ctx)
}

// runOnce claims a job on ctx and runs it on work.
func (w *Worker) runOnce(ctx, work context.Context) (bool, error) {
	job, err := w.Jobs.Claim(ctx, w.Owner, w.Lease, w.Now())
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	if job == nil {
		return false, nil
	}
	w.counters.claimed.Add(1)
	w.counters.running.Add(1)
	err = w.run(work, *job)
	w.counters.running.Add(-1)
	// Give the lease up with a fresh context: the job's own may be cancelled by now.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if errors.Is(err, errHandBack) {
		w.counters.handedBack.Add(1)
		if herr := w.Jobs.HandBack(rctx, *job, w.Owner); herr != nil {
			w.Logger.Warn("hand job back", "scan", job.ScanID, "attempt", job.Attempt, "err", herr)
		} else {
			w.Logger.Info("job handed back: shutting down before the analysis answered", "scan", job.ScanID, "attempt", job.Attempt)
		}
		return true, nil
	}
	if rerr := w.Jobs.Release(rctx, *job, w.Owner); rerr != nil {
		w.Logger.Warn("release job", "scan", job.ScanID, "attempt", job.Attempt, "err", rerr)
	}
	return true, err
}

func (w *Worker) meta(job Job) scan.Meta {
	if job.cause.CausationID != "" {
		return job.cause
	}
	id := fmt.Sprintf("job:%s:%d", job.ScanID, job.Attempt)
	return scan.Meta{CorrelationID: id, CausationID: id}
}

// attemptMeta is the metadata of every event the worker appends for an attempt: caused
// by the attempt's ProcessingStarted, in the processing flow it belongs to (the
// correlation id of the request that started processing, carried over automatic
// retries).
func attemptMeta(recs []event.Recorded, attempt int) scan.Meta {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Type != scan.TypeProcessingStarted {
			continue
		}
		e, err := scan.Decode(recs[i])
		started, ok := e.(scan.ProcessingStarted)
		if err != nil || !ok || started.Attempt != attempt {
			continue
		}
		m, err := event.ParseMetadata(recs[i].Metadata)
		if err != nil {
			return scan.Meta{}
		}
		flow := m.CorrelationID
		if flow == "" {
			flow = recs[i].ID
		}
		return scan.Meta{CorrelationID: flow, CausationID: recs[i].ID}
	}
	return scan.Meta{}
}

func (w *Worker) run(ctx context.Context, job Job) error {
	log := w.Logger.With("scan", job.ScanID, "attempt", job.Attempt)
	recs, err := w.Scans.History(ctx, job.ScanID)
	if err != nil {
		return fmt.Errorf("load scan %s: %w", job.ScanID, err)
	}
	snap, err := scan.Replay(ctx, w.Scans.Cipher, job.ScanID, recs, scan.UpToVersion(int64(len(recs))))
	if err != nil {
		return fmt.Errorf("load scan %s: %w", job.ScanID, err)
	}
	s := snap.Scan
	job.cause = attemptMeta(recs, job.Attempt)
	if s.Deleted || s.Status != scan.StatusRunning || s.Attempt != job.Attempt {
		return nil // superseded; the jobs projection will mark it done
	}
	if job.Claims > 1 {
		// An earlier worker claimed this attempt and its lease ran out: it died or hung
		// mid-analysis. Its partial progress is unknown, so the attempt fails and, while
		// retries remain, the next one starts in the same append.
		log.Warn("taking over an abandoned attempt")
		w.counters.takenOver.Add(1)
		return w.finish(ctx, job, &analysis.Error{Code: "worker_lost",
			Detail: "the worker processing this attempt stopped before finishing", Retryable: true})
	}

	// Keep the lease while we work; losing it means another worker may take over, so
	// stop at once.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go w.heartbeat(ctx, cancel, job)

	p := newProgress(w, job)
	defer p.stop()
	req, err := w.request(ctx, s, job)
	if err != nil {
		return w.finish(ctx, job, err)
	}
	p.report(analysis.Progress{Percent: 20, Stage: "Analyzing images"})

	actx, acancel := context.WithTimeout(ctx, w.Deadline)
	started := w.Now()
	resp, err := w.Analyzer.Analyze(actx, req, p.report)
	timedOut := errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	acancel()
	p.stop()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && !errors.Is(cause, context.Canceled) {
			w.counters.lost.Add(1)
			return fmt.Errorf("lease lost: %w", cause)
		}
		if ctx.Err() != nil {
			// Shutting down and the drain ran out: the analysis never answered, so
			// nothing of this attempt is stored; another worker starts it afresh.
			return errHandBack
		}
		if timedOut {
			err = &analysis.Error{Code: "analysis_timeout", Detail: fmt.Sprintf("no result within %s", w.Deadline), Retryable: true}
		}
		return w.finish(ctx, job, err)
	}
	done, err := Completed(ctx, resp, job.Attempt, started, w.Now(), w.Prices)
	var pe *pricingError
	if errors.As(err, &pe) {
		return fmt.Errorf("complete scan %s: %w", job.ScanID, err)
	}
	if err != nil {
		return w.finish(ctx, job, &analysis.Error{Code: "bad_result", Detail: err.Error()})
	}
	if err := w.untilStored(ctx, func() error {
		_, err := w.Scans.Execute(ctx, job.ScanID, w.meta(job), func(s *scan.Scan) error {
			if err := s.ReportProgress(job.Attempt, 90, "Saving results", nil); err != nil {
				return err
			}
			if err := s.ReportProgress(job.Attempt, 100, "Complete", nil); err != nil {
				return err
			}
			return s.Complete(done)
		})
		return err
	}); domain.ErrorCode(err) == domain.ETOOLARGE {
		// The event store would refuse this result however often the job ran, and every
		// run pays the analyzer again.
		return w.finish(ctx, job, &analysis.Error{Code: "result_too_large", Detail: err.Error()})
	} else if err != nil {
		return fmt.Errorf("complete scan %s: %w", job.ScanID, err)
	}
	w.counters.completed.Add(1)
	log.Info("scan completed", "took", w.Now().Sub(started).Round(time.Millisecond))
	return nil
}

// request builds the analyzer request from the scan's state, with fresh URLs: they are
// signed now, not when the job was queued, so a delayed retry never sends expired ones.
func (w *Worker) request(ctx context.Context, s *scan.Scan, job Job) (analysis.Request, error) {
	req := analysis.Request{
		ScanID:            s.ID,
		Attempt:           job.Attempt,
		HouseChecklist:    s.Checklists.House,
		RoomsChecklist:    s.Checklists.Rooms,
		ProductsChecklist: s.Checklists.Products,
	}
	for _, r := range s.Rooms {
		room := analysis.Room{ID: r.RoomID}
		for _, im := range r.Images {
			u, err := w.Signer.SignedURL(ctx, im.BlobKey, w.URLTTL)
			if err != nil {
				return req, &analysis.Error{Code: "sign_url", Detail: err.Error(), Retryable: true}
			}
			room.Images = append(room.Images, analysis.Image{ID: im.ImageID, BlobKey: im.BlobKey, ContentType: im.ContentType, URL: u})
		}
		req.Rooms = append(req.Rooms, room)
	}
	return req, nil
}

// finish records a failed attempt: a retry when the error is retryable and retries
// remain, a final Failed otherwise.
func (w *Worker) finish(ctx context.Context, job Job, cause error) error {
	var ae *analysis.Error
	if !errors.As(cause, &ae) {
		ae = &analysis.Error{Code: "internal", Detail: cause.Error(), Retryable: true}
	}
	retried := false
	err := w.untilStored(ctx, func() error {
		_, err := w.Scans.Execute(ctx, job.ScanID, w.meta(job), func(s *scan.Scan) error {
			if retried = ae.Retryable && s.Retries < w.MaxRetries; retried {
				return s.Retry(job.Attempt, ae.Code, ae.Detail)
			}
			return s.Fail(job.Attempt, ae.Code, ae.Detail, ae.Retryable)
		})
		return err
	})
	if err != nil {
		if domain.ErrorCode(err) == domain.ECONFLICT || domain.ErrorCode(err) == domain.ENOTFOUND {
			return nil // superseded or deleted meanwhile
		}
		return fmt.Errorf("fail scan %s: %w", job.ScanID, err)
	}
	if retried {
		w.counters.retried.Add(1)
	} else {
		w.counters.failed.Add(1)
	}
	w.Logger.Warn("scan attempt failed", "scan", job.ScanID, "attempt", job.Attempt, "code", ae.Code, "detail", ae.Detail)
	return nil
}

// heartbeat renews the lease every Lease/3. A renewal that fails without being refused
// (the database is unavailable) is tried again at the next tick while the lease still runs: a short
// outage must not abandon the work. A lease that is lost, or that ran out meanwhile,
// stops the job.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, job Job) {
	t := time.NewTicker(w.Lease / 3)
	defer t.Stop()
	expires := w.Now().Add(w.Lease)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := w.Now()
			err := w.Jobs.Extend(ctx, job, w.Owner, w.Lease, now)
			switch {
			case err == nil:
				expires = now.Add(w.Lease)
				w.counters.renewals.Add(1)
			case ctx.Err() != nil:
				return
			case domain.ErrorCode(err) != domain.ECONFLICT && w.Now().Before(expires):
				// Not refused (that is a lost lease), so the queue did not answer.
				w.Logger.Warn("extend lease failed, retrying while the lease runs", "scan", job.ScanID, "err", err)
			default:
				cancel(fmt.Errorf("extend lease: %w", err))
				return
			}
		}
	}
}
