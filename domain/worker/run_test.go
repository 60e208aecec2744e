package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/worker"
	"github.com/scanledger/scanledger/internal/await"
	"github.com/scanledger/scanledger/internal/logtest"
)

// guard bounds every wait below; it only fires when something hangs.
const guard = 5 * time.Second

// jobQueue is a job queue for Run: jobs are claimed in order, every call is recorded,
// and claimErrs, expireErrs and extend script failures.
type jobQueue struct {
	mu          sync.Mutex
	pending     []worker.Job
	claimErrs   []error // returned by the next Claims, one each, before any job
	expireErrs  []error // returned by the next Expires, one each
	expired     int     // what a successful Expire reports it ended
	extend      func(n int) error
	claims      int
	claimLease  time.Duration
	claimOwners []string
	claimNow    time.Time
	expires     []string // owners, in call order
	claimedAt   []int    // len(expires) at each successful Claim
	extends     int
	releaseErr  error
	handBackErr error
	released    int
	handedBack  int
}

func (q *jobQueue) add(jobs ...worker.Job) {
	q.mu.Lock()
	q.pending = append(q.pending, jobs...)
	q.mu.Unlock()
}

func (q *jobQueue) Claim(_ context.Context, owner string, lease time.Duration, now time.Time) (*worker.Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.claims++
	q.claimLease, q.claimNow = lease, now
	q.claimOwners = append(q.claimOwners, owner)
	if len(q.claimErrs) > 0 {
		err := q.claimErrs[0]
		q.claimErrs = q.claimErrs[1:]
		return nil, err
	}
	if len(q.pending) == 0 {
		return nil, nil
	}
	j := q.pending[0]
	q.pending = q.pending[1:]
	q.claimedAt = append(q.claimedAt, len(q.expires))
	return &j, nil
}

func (q *jobQueue) Extend(context.Context, worker.Job, string, time.Duration, time.Time) error {
	q.mu.Lock()
	q.extends++
	n, f := q.extends, q.extend
	q.mu.Unlock()
	if f != nil {
		return f(n)
	}
	return nil
}

func (q *jobQueue) Release(context.Context, worker.Job, string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.released++
	return q.releaseErr
}

func (q *jobQueue) HandBack(context.Context, worker.Job, string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handedBack++
	return q.handBackErr
}

func (q *jobQueue) Expire(_ context.Context, owner string, _ time.Time) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expires = append(q.expires, owner)
	if len(q.expireErrs) > 0 {
		err := q.expireErrs[0]
		q.expireErrs = q.expireErrs[1:]
		return 0, err
	}
	return q.expired, nil
}

func (q *jobQueue) get(f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f()
}

// analyzeFunc is an analysis.Analyzer that is safe to call from several jobs at once.
type analyzeFunc func(ctx context.Context, req analysis.Request) (*analysis.Response, error)

func (f analyzeFunc) Analyze(ctx context.Context, req analysis.Request, _ func(analysis.Progress)) (*analysis.Response, error) {
	return f(ctx, req)
}

func succeed(context.Context, analysis.Request) (*analysis.Response, error) {
	return &analysis.Response{}, nil
}

// runFixture is a worker over several scans, each with its first attempt running, for
// specifications of Run.
type runFixture struct {
	scans *scan.Handler
	store *memStore
	jobs  *jobQueue
	w     *worker.Worker
}

func newRunFixture(t *testing.T, a analysis.Analyzer, ids ...string) *runFixture {
	t.Helper()
	f := &runFixture{store: &memStore{}, jobs: &jobQueue{}}
	f.scans = scan.NewHandler(f.store)
	f.w = &worker.Worker{Jobs: f.jobs, Scans: f.scans, Analyzer: a, Signer: signer{}, Logger: slog.New(slog.DiscardHandler)}
	for _, id := range ids {
		for _, decide := range []func(*scan.Scan) error{
			func(s *scan.Scan) error { return s.Create("u1", "h1", true, "") },
			func(s *scan.Scan) error {
				return s.UploadImages([]scan.Room{{RoomID: "r1", Images: []scan.Image{{ImageID: "i1", BlobKey: "k1", ContentType: "image/jpeg"}}}}, "")
			},
			func(s *scan.Scan) error { return s.StartProcessing("u1", scan.Checklists{}, nil) },
		} {
			if _, err := f.scans.Execute(context.Background(), id, scan.Meta{UserID: "u1"}, decide); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// run starts Run and returns a function that cancels it and returns what Run returned.
func (f *runFixture) run(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.w.Run(ctx) }()
	t.Cleanup(cancel)
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(guard):
			t.Fatalf("Run did not return within %v of its context ending", guard)
			return nil
		}
	}
}

func (f *runFixture) status(t *testing.T, id string) scan.Status {
	t.Helper()
	s, err := f.scans.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Status
}

func job(id string) worker.Job { return worker.Job{ScanID: id, Attempt: 1, Claims: 1} }

func (f *runFixture) captureLogs() *logtest.Buffer {
	l := &logtest.Buffer{}
	f.w.Logger = slog.New(slog.NewTextHandler(l, nil))
	return l
}

func TestRun_FirstTakesBackTheLeasesOfItsOwnersPreviousLifeRetryingWhileTheQueueIsAway(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed), "s1")
	f.w.Owner = "instance-7"
	log := f.captureLogs()
	f.jobs.expireErrs = []error{domain.Errorf(domain.EUNAVAILABLE, "database starting")}
	f.jobs.expired = 2
	f.jobs.add(job("s1"))
	stop := f.run(t)
	await.Until(t, guard, "the job to be done", func() bool { return f.status(t, "s1") == scan.StatusSucceeded })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled once its context ended", err)
	}
	f.jobs.get(func() {
		if len(f.jobs.expires) != 2 || f.jobs.expires[0] != "instance-7" || f.jobs.expires[1] != "instance-7" {
			t.Errorf("Expire calls %q, want two for instance-7 (the first failed)", f.jobs.expires)
		}
		if len(f.jobs.claimedAt) != 1 || f.jobs.claimedAt[0] != 2 {
			t.Errorf("the job was claimed after %v Expire calls, want after both", f.jobs.claimedAt)
		}
		for _, o := range f.jobs.claimOwners {
			if o != "instance-7" {
				t.Errorf("claimed as %q, want the Owner", o)
			}
		}
		if f.jobs.released != 1 {
			t.Errorf("released %d times, want once", f.jobs.released)
		}
	})
	for _, want := range []string{"database starting", "took back the jobs of this worker's previous life"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("logs %q, want %q", log, want)
		}
	}
}

func TestRun_ARestartWithNoLeasesLeftSaysNothingAboutThem(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed), "s1")
	log := f.captureLogs()
	f.jobs.add(job("s1"))
	stop := f.run(t)
	await.Until(t, guard, "the job to be done", func() bool { return f.status(t, "s1") == scan.StatusSucceeded })
	stop()
	if strings.Contains(log.String(), "took back") {
		t.Errorf("logs %q: no job was taken back", log)
	}
}

// An idle worker looks for jobs at the poll interval or on a wake-up, and not in
// between: it must not hammer the job queue's database.
func TestRun_AnIdleWorkerClaimsOnlyAtThePollOrOnAWakeUp(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed))
	f.w.Poll = time.Hour
	f.w.Concurrency = 1
	stop := f.run(t)
	defer stop()
	claims := func() (n int) {
		f.jobs.get(func() { n = f.jobs.claims })
		return n
	}
	await.Until(t, guard, "the first look at the queue", func() bool { return claims() >= 1 })
	time.Sleep(300 * time.Millisecond) // only to show that nothing more comes
	if n := claims(); n != 1 {
		t.Errorf("%d claims in 300ms of an hour's poll without a wake-up, want 1", n)
	}
}

func TestRun_OneJobAtATimeByDefault(t *testing.T) {
	var mu sync.Mutex
	running, most := 0, 0
	a := analyzeFunc(func(ctx context.Context, req analysis.Request) (*analysis.Response, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(100 * time.Millisecond) // room for a second job to start alongside, were there a second loop
		mu.Lock()
		running--
		mu.Unlock()
		return &analysis.Response{}, nil
	})
	f := newRunFixture(t, a, "s1", "s2")
	f.jobs.add(job("s1"), job("s2"))
	stop := f.run(t)
	defer stop()
	await.Until(t, guard, "both jobs to be done", func() bool {
		return f.status(t, "s1") == scan.StatusSucceeded && f.status(t, "s2") == scan.StatusSucceeded
	})
	if most != 1 {
		t.Errorf("%d jobs ran at once, want 1 (Concurrency unset)", most)
	}
}

// A finished analysis is worth a short outage: storing its result is tried again
// while the event store does not answer, and the wait is logged.
func TestRun_TheResultIsStoredOnceTheDatabaseAnswersAgain(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed), "s1")
	log := f.captureLogs()
	away := &awayStore{memStore: f.store, failures: 2}
	f.w.Scans = scan.NewHandler(away)
	f.jobs.add(job("s1"))
	worked, err := f.w.RunOnce(context.Background())
	if !worked || err != nil {
		t.Fatalf("RunOnce = %v, %v; want the job done", worked, err)
	}
	if got := f.status(t, "s1"); got != scan.StatusSucceeded {
		t.Errorf("status %s, want succeeded once the store answered", got)
	}
	if !strings.Contains(log.String(), "the database is unavailable, retrying") {
		t.Errorf("logs %q, want the retries", log)
	}
}

// awayStore fails its first appends as unavailable, as a database that went away.
type awayStore struct {
	*memStore
	mu       sync.Mutex
	failures int
}

func (s *awayStore) Append(ctx context.Context, stream string, expected int64, evs []event.Data) (event.AppendResult, error) {
	s.mu.Lock()
	fail := s.failures > 0
	s.failures--
	s.mu.Unlock()
	if fail {
		return event.AppendResult{}, domain.Errorf(domain.EUNAVAILABLE, "database away")
	}
	return s.memStore.Append(ctx, stream, expected, evs)
}

func TestRun_ClaimsTheNextJobAtOnceAfterOneAndOnWakeUpsWithoutWaitingForThePoll(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed), "s1", "s2", "s3")
	f.w.Poll = time.Hour
	wake := make(chan struct{}, 1)
	f.w.Wake = wake
	f.jobs.add(job("s1"), job("s2"))
	stop := f.run(t)
	defer stop()
	await.Until(t, guard, "both queued jobs to be done, one after the other", func() bool {
		return f.status(t, "s1") == scan.StatusSucceeded && f.status(t, "s2") == scan.StatusSucceeded
	})
	// Idle now, with an hour to the next poll: a wake-up makes it look again.
	await.Until(t, guard, "the worker to find the queue empty", func() bool {
		var claims int
		f.jobs.get(func() { claims = f.jobs.claims })
		return claims >= 3
	})
	f.jobs.add(job("s3"))
	wake <- struct{}{}
	await.Until(t, guard, "the job queued with a wake-up to be done", func() bool { return f.status(t, "s3") == scan.StatusSucceeded })
}

func TestRun_PollsForJobsThatCameWithoutAWakeUp(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed), "s1")
	f.w.Poll = 20 * time.Millisecond
	stop := f.run(t)
	defer stop()
	await.Until(t, guard, "the worker to find the queue empty", func() bool {
		var claims int
		f.jobs.get(func() { claims = f.jobs.claims })
		return claims >= 1
	})
	f.jobs.add(job("s1"))
	await.Until(t, guard, "the job queued without a wake-up to be found by polling", func() bool { return f.status(t, "s1") == scan.StatusSucceeded })
}

func TestRun_AFailedClaimIsRetriedAfterAPauseNotGivenUp(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed), "s1")
	f.w.Poll = time.Hour // only the retry after the failure can find the job
	log := f.captureLogs()
	f.jobs.claimErrs = []error{errors.New("connection refused"), errors.New("connection refused")}
	f.jobs.add(job("s1"))
	stop := f.run(t)
	defer stop()
	await.Until(t, guard, "the job to be claimed after two failed claims", func() bool { return f.status(t, "s1") == scan.StatusSucceeded })
	if !strings.Contains(log.String(), "connection refused") {
		t.Errorf("logs %q, want the failed claims", log)
	}
}

func TestRun_RunsConcurrencyJobsAtOnce(t *testing.T) {
	var mu sync.Mutex
	running, most := 0, 0
	both := make(chan struct{})
	var once sync.Once
	a := analyzeFunc(func(ctx context.Context, req analysis.Request) (*analysis.Response, error) {
		mu.Lock()
		running++
		most = max(most, running)
		if running == 2 {
			once.Do(func() { close(both) })
		}
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		select {
		case <-both:
			return &analysis.Response{}, nil
		case <-time.After(guard):
			return nil, errors.New("the other job never ran alongside")
		}
	})
	f := newRunFixture(t, a, "s1", "s2")
	f.w.Concurrency = 2
	f.jobs.add(job("s1"), job("s2"))
	stop := f.run(t)
	defer stop()
	await.Until(t, guard, "both jobs to be done", func() bool {
		return f.status(t, "s1") != scan.StatusRunning && f.status(t, "s2") != scan.StatusRunning
	})
	if f.status(t, "s1") != scan.StatusSucceeded || f.status(t, "s2") != scan.StatusSucceeded || most != 2 {
		t.Errorf("statuses %s and %s, at most %d at once; want both succeeded, two at once", f.status(t, "s1"), f.status(t, "s2"), most)
	}
}

func TestRun_WithoutSettingsUsesTheDocumentedDefaults(t *testing.T) {
	var deadline time.Time
	a := analyzeFunc(func(ctx context.Context, req analysis.Request) (*analysis.Response, error) {
		deadline, _ = ctx.Deadline()
		return &analysis.Response{}, nil
	})
	f := newRunFixture(t, a, "s1", "s2")
	var ttl time.Duration
	f.w.Signer = signerFunc(func(d time.Duration) { ttl = d })
	f.w.Logger = nil
	f.w.MaxRetries = -1
	f.jobs.add(job("s1"))
	start := time.Now()
	stop := f.run(t)
	defer stop()
	await.Until(t, guard, "the job to be done with one worker", func() bool { return f.status(t, "s1") == scan.StatusSucceeded })
	f.jobs.get(func() {
		if f.jobs.claimLease != 30*time.Second {
			t.Errorf("lease %v, want 30s", f.jobs.claimLease)
		}
		if !strings.HasPrefix(f.jobs.claimOwners[0], "worker-") || len(f.jobs.claimOwners[0]) <= len("worker-") {
			t.Errorf("owner %q, want a generated worker-<id>", f.jobs.claimOwners[0])
		}
		if f.jobs.claimNow.Before(start) || f.jobs.claimNow.After(time.Now()) {
			t.Errorf("claimed at %v, want the clock's time", f.jobs.claimNow)
		}
	})
	if left := time.Until(deadline); left < 290*time.Second || left > 300*time.Second {
		t.Errorf("the analysis had %v left, want the 300s default deadline", left)
	}
	if ttl != time.Hour {
		t.Errorf("photo URLs live %v, want 1h", ttl)
	}
	// A retryable failure with MaxRetries below zero is final: no retry at all.
	f.w.Analyzer = analyzeFunc(func(context.Context, analysis.Request) (*analysis.Response, error) {
		return nil, &analysis.Error{Code: "upstream", Detail: "503", Retryable: true}
	})
	f.jobs.add(job("s2"))
	await.Until(t, guard, "the second job to be done by polling every second", func() bool { return f.status(t, "s2") != scan.StatusRunning })
	if got := f.status(t, "s2"); got != scan.StatusFailed {
		t.Errorf("status %s, want failed without a retry", got)
	}
}

type signerFunc func(ttl time.Duration)

func (f signerFunc) SignedURL(_ context.Context, key string, ttl time.Duration) (string, error) {
	f(ttl)
	return "https://photos.test/" + key, nil
}

// The lease is renewed every Lease/3 while the analysis runs. A renewal the queue
// refuses (the lease was lost) stops the job at once and nothing is stored for it; one
// that fails because the queue did not answer is tried again while the lease lasts,
// and stops the job once the lease ran out.
func TestRun_TheLeaseIsRenewedWhileTheAnalysisRunsAndItsLossStopsTheJob(t *testing.T) {
	const lease = 60 * time.Millisecond
	for _, tc := range []struct {
		name    string
		extend  func(n int) error
		clock   func(start time.Time, calls int) time.Time
		stopped bool
	}{
		{name: "renewed", extend: func(int) error { return nil }},
		{name: "refused", extend: func(int) error { return domain.Errorf(domain.ECONFLICT, "lease held by another") }, stopped: true},
		{name: "queue away while the lease lasts",
			extend: func(int) error { return domain.Errorf(domain.EUNAVAILABLE, "database away") },
			clock:  func(start time.Time, _ int) time.Time { return start }},
		{name: "queue away past the lease",
			extend:  func(int) error { return domain.Errorf(domain.EUNAVAILABLE, "database away") },
			clock:   func(start time.Time, calls int) time.Time { return start.Add(time.Duration(calls) * lease) },
			stopped: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *runFixture
			var stoppedBy error
			a := analyzeFunc(func(ctx context.Context, req analysis.Request) (*analysis.Response, error) {
				// Three renewals, or the job stopped: whichever comes first.
				deadline := time.After(guard)
				for {
					var n int
					f.jobs.get(func() { n = f.jobs.extends })
					if n >= 3 {
						return &analysis.Response{}, nil
					}
					select {
					case <-ctx.Done():
						stoppedBy = context.Cause(ctx)
						return nil, ctx.Err()
					case <-time.After(5 * time.Millisecond):
					case <-deadline:
						return nil, errors.New("no renewal")
					}
				}
			})
			f = newRunFixture(t, a, "s1")
			f.w.Lease = lease
			if tc.clock != nil {
				start, calls := time.Now(), 0
				var mu sync.Mutex
				f.w.Now = func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					calls++
					return tc.clock(start, calls)
				}
			}
			f.jobs.extend = tc.extend
			f.jobs.add(job("s1"))
			worked, err := f.w.RunOnce(context.Background())
			if !worked {
				t.Fatal("RunOnce found no job")
			}
			if tc.stopped {
				if err == nil || !strings.Contains(err.Error(), "lease") || stoppedBy == nil {
					t.Errorf("RunOnce = %v (analysis stopped by %v), want the job stopped for its lease", err, stoppedBy)
				}
				if got := f.status(t, "s1"); got != scan.StatusRunning {
					t.Errorf("status %s, want running: a job that lost its lease stores nothing", got)
				}
				if st := f.w.Stats(); st.LeasesLost != 1 || st.Running != 0 {
					t.Errorf("stats %+v: want one lease lost counted, nothing running", st)
				}
				return
			}
			if err != nil || f.status(t, "s1") != scan.StatusSucceeded {
				t.Errorf("RunOnce = %v, status %s; want the analysis stored", err, f.status(t, "s1"))
			}
			if st := f.w.Stats(); tc.name == "renewed" && (st.LeaseRenewals < 3 || st.LeasesLost != 0) {
				t.Errorf("stats %+v: want at least 3 renewals counted and no lease lost", st)
			}
		})
	}
}

// Once Run's context ends, a job under way gets Drain to finish, and its result is
// stored; a job still running at the end of the drain is handed back, not failed.
func TestRun_AShutdownDrainsJobsUnderWayThenHandsBackTheRest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		drain    time.Duration
		finishes bool
	}{
		{"finishes within the drain", guard, true},
		{"outlasts the drain", 10 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started, finish := make(chan struct{}), make(chan struct{})
			a := analyzeFunc(func(ctx context.Context, req analysis.Request) (*analysis.Response, error) {
				close(started)
				select {
				case <-finish:
					return &analysis.Response{}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
			f := newRunFixture(t, a, "s1")
			log := f.captureLogs()
			f.w.Drain = tc.drain
			f.jobs.add(job("s1"))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.w.Run(ctx) }()
			select {
			case <-started:
			case <-time.After(guard):
				t.Fatal("the analysis did not start")
			}
			cancel()
			if tc.finishes {
				close(finish) // after cancel: Run's context is done, the job's is not
			}
			select {
			case <-done:
			case <-time.After(guard):
				t.Fatal("Run did not return after the drain")
			}
			var handedBack, released int
			f.jobs.get(func() { handedBack, released = f.jobs.handedBack, f.jobs.released })
			want := scan.StatusRunning
			if tc.finishes {
				want = scan.StatusSucceeded
			}
			if got := f.status(t, "s1"); got != want || (handedBack == 1) == tc.finishes || (released == 1) != tc.finishes {
				t.Errorf("status %s, handed back %d, released %d; want %s and the job %s", got, handedBack, released, want,
					map[bool]string{true: "released", false: "handed back"}[tc.finishes])
			}
			if types := fmt.Sprint(f.store.types()); strings.Contains(types, scan.TypeFailed) {
				t.Errorf("events %s: a shutdown is not a failure", types)
			}
			if handed := strings.Contains(log.String(), "job handed back"); handed == tc.finishes || strings.Contains(log.String(), "level=WARN") {
				t.Errorf("logs %q: want the hand-back said (as information) exactly when the job outlasted the drain", log)
			}
			st := f.w.Stats()
			if st.Claimed != 1 || st.Running != 0 || (st.Completed == 1) != tc.finishes || (st.HandedBack == 1) == tc.finishes {
				t.Errorf("stats %+v: want one claim, none running, and the job counted as %s", st,
					map[bool]string{true: "completed", false: "handed back"}[tc.finishes])
			}
		})
	}
}

// While the database is away every retry loop pauses between tries, doubling from
// 100 ms with jitter, instead of hammering it: in 300 ms a loop tries a handful of
// times, not thousands.
func TestRun_RetriesWhileTheDatabaseIsAwayArePaced(t *testing.T) {
	const window, most = 300 * time.Millisecond, 10
	away := domain.Errorf(domain.EUNAVAILABLE, "database away")
	forever := func() []error {
		errs := make([]error, 100000)
		for i := range errs {
			errs[i] = away
		}
		return errs
	}
	t.Run("claims", func(t *testing.T) {
		f := newRunFixture(t, analyzeFunc(succeed))
		f.jobs.claimErrs = forever()
		stop := f.run(t)
		time.Sleep(window) // only to count the tries
		stop()
		f.jobs.get(func() {
			if f.jobs.claims > most {
				t.Errorf("%d claims in %v, want at most %d", f.jobs.claims, window, most)
			}
		})
	})
	t.Run("taking back the previous life's leases", func(t *testing.T) {
		f := newRunFixture(t, analyzeFunc(succeed))
		f.jobs.expireErrs = forever()
		stop := f.run(t)
		time.Sleep(window)
		stop()
		f.jobs.get(func() {
			if len(f.jobs.expires) > most {
				t.Errorf("%d Expire calls in %v, want at most %d", len(f.jobs.expires), window, most)
			}
		})
	})
	t.Run("storing a result", func(t *testing.T) {
		f := newRunFixture(t, analyzeFunc(succeed), "s1")
		store := &awayStore{memStore: f.store, failures: 100000}
		f.w.Scans = scan.NewHandler(store)
		f.jobs.add(job("s1"))
		ctx, cancel := context.WithTimeout(context.Background(), window)
		defer cancel()
		_, _ = f.w.RunOnce(ctx)
		store.mu.Lock()
		tries := 100000 - store.failures
		store.mu.Unlock()
		if tries > most {
			t.Errorf("%d appends in %v, want at most %d", tries, window, most)
		}
	})
}

// A lease that cannot be given up runs out by itself; the job is done all the same,
// and the failure is logged for the operator.
func TestRun_ALeaseThatCannotBeGivenUpIsLoggedNotAFailure(t *testing.T) {
	for _, releaseErr := range []error{nil, errors.New("connection reset")} {
		f := newRunFixture(t, analyzeFunc(succeed), "s1")
		log := f.captureLogs()
		f.jobs.releaseErr = releaseErr
		f.jobs.add(job("s1"))
		if worked, err := f.w.RunOnce(context.Background()); !worked || err != nil {
			t.Fatalf("RunOnce = %v, %v; want the job done", worked, err)
		}
		if warned := strings.Contains(log.String(), "release job"); warned != (releaseErr != nil) {
			t.Errorf("release error %v, logs %q: want a warning exactly when releasing failed", releaseErr, log)
		}
	}
}

// A job handed back at shutdown whose hand-back fails is still not a failure; its
// lease runs out by itself, and the operator is told.
func TestRun_AHandBackThatFailsIsLogged(t *testing.T) {
	started := make(chan struct{})
	a := analyzeFunc(func(ctx context.Context, req analysis.Request) (*analysis.Response, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	f := newRunFixture(t, a, "s1")
	log := f.captureLogs()
	f.jobs.handBackErr = errors.New("connection reset")
	f.jobs.add(job("s1"))
	stop := f.run(t)
	select {
	case <-started:
	case <-time.After(guard):
		t.Fatal("the analysis did not start")
	}
	stop()
	if !strings.Contains(log.String(), "hand job back") || !strings.Contains(log.String(), "connection reset") {
		t.Errorf("logs %q, want the failed hand-back", log)
	}
	if types := fmt.Sprint(f.store.types()); strings.Contains(types, scan.TypeFailed) {
		t.Errorf("events %s: a shutdown is not a failure", types)
	}
}

// Every event the worker appends for an attempt is caused by the attempt's
// ProcessingStarted and belongs to its processing flow, so a scan's history reads as
// one story from the request that started it.
func TestRun_TheWorkersEventsAreCausedByTheAttemptsStart(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(succeed), "s1")
	f.jobs.add(job("s1"))
	if worked, err := f.w.RunOnce(context.Background()); !worked || err != nil {
		t.Fatalf("RunOnce = %v, %v", worked, err)
	}
	var start string
	for _, r := range f.store.All {
		if r.Type == scan.TypeProcessingStarted {
			start = r.ID
			continue
		}
		if start == "" {
			continue
		}
		m, err := event.ParseMetadata(r.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		if m.CausationID != start || m.CorrelationID != start {
			t.Errorf("%s: causation %q, correlation %q; want both the ProcessingStarted %s (it had no correlation id)",
				r.Type, m.CausationID, m.CorrelationID, start)
		}
	}
	if start == "" {
		t.Fatal("no ProcessingStarted in the history")
	}
}

// The analyzer is asked about the scan's own rooms and photos, each photo with a URL
// signed for this attempt.
func TestRun_TheAnalyzerIsGivenTheScansRoomsAndSignedPhotoURLs(t *testing.T) {
	var got analysis.Request
	f := newRunFixture(t, analyzeFunc(func(_ context.Context, req analysis.Request) (*analysis.Response, error) {
		got = req
		return &analysis.Response{}, nil
	}), "s1")
	f.jobs.add(job("s1"))
	if worked, err := f.w.RunOnce(context.Background()); !worked || err != nil {
		t.Fatalf("RunOnce = %v, %v", worked, err)
	}
	want := []analysis.Room{{ID: "r1", Images: []analysis.Image{{ID: "i1", BlobKey: "k1", ContentType: "image/jpeg", URL: "https://photos.test/k1"}}}}
	if got.ScanID != "s1" || got.Attempt != 1 || fmt.Sprint(got.Rooms) != fmt.Sprint(want) {
		t.Errorf("request %+v, want scan s1 attempt 1 with rooms %+v", got, want)
	}
}

// An analysis that outlasts Deadline is a retryable analysis_timeout, counted as
// such: the attempt is retried while retries remain, then failed.
func TestRun_AnAnalysisPastItsDeadlineIsATimeoutFailure(t *testing.T) {
	f := newRunFixture(t, analyzeFunc(func(ctx context.Context, _ analysis.Request) (*analysis.Response, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}), "s1")
	f.w.Deadline = 20 * time.Millisecond
	f.w.MaxRetries = 1
	for attempt := 1; attempt <= 2; attempt++ {
		f.jobs.add(worker.Job{ScanID: "s1", Attempt: attempt, Claims: 1})
		if worked, err := f.w.RunOnce(context.Background()); !worked || err != nil {
			t.Fatalf("attempt %d: RunOnce = %v, %v", attempt, worked, err)
		}
	}
	var codes []string
	for _, r := range f.store.All {
		if r.Type == scan.TypeFailed {
			e, err := scan.Decode(r)
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, e.(scan.Failed).Code)
		}
	}
	if fmt.Sprint(codes) != "[analysis_timeout analysis_timeout]" || f.status(t, "s1") != scan.StatusFailed {
		t.Errorf("failures %v, status %s; want two analysis_timeout failures, the second final", codes, f.status(t, "s1"))
	}
	if st := f.w.Stats(); st.Retried != 1 || st.Failed != 1 || st.Claimed != 2 {
		t.Errorf("stats %+v: want 2 claims, 1 retried, 1 failed", st)
	}
}

// A job claimed a second time belonged to a worker that died mid-analysis: the
// attempt fails as worker_lost (and is retried), without analysing, and is counted
// and logged as taken over.
func TestRun_AnAbandonedAttemptIsTakenOverNotAnalysed(t *testing.T) {
	calls := 0
	f := newRunFixture(t, analyzeFunc(func(context.Context, analysis.Request) (*analysis.Response, error) {
		calls++
		return &analysis.Response{}, nil
	}), "s1")
	log := f.captureLogs()
	f.w.MaxRetries = 1
	f.jobs.add(worker.Job{ScanID: "s1", Attempt: 1, Claims: 2})
	if worked, err := f.w.RunOnce(context.Background()); !worked || err != nil {
		t.Fatalf("RunOnce = %v, %v", worked, err)
	}
	if s, _ := f.scans.Load(context.Background(), "s1"); calls != 0 || s.Attempt != 2 || s.Status != scan.StatusRunning {
		t.Errorf("%d analyses, attempt %d %s; want none, and attempt 2 running", calls, s.Attempt, s.Status)
	}
	if st := f.w.Stats(); st.TakenOver != 1 || st.Retried != 1 {
		t.Errorf("stats %+v: want one taken over, retried", st)
	}
	for _, want := range []string{"taking over an abandoned attempt", "scan attempt failed", "worker_lost"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("logs %q, want %q", log, want)
		}
	}
}
