package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/event/eventtest"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/worker"
)

// memStore is the in-memory event.Store the worker needs.
type memStore struct {
	eventtest.Memory
	// maxAppend, when set, refuses larger appends as KurrentDB does (data and metadata).
	maxAppend int
}

func (m *memStore) Append(ctx context.Context, stream string, expected int64, evs []event.Data) (event.AppendResult, error) {
	size := 0
	for _, e := range evs {
		size += len(e.Data) + len(e.Metadata)
	}
	if m.maxAppend > 0 && size > m.maxAppend {
		return event.AppendResult{}, domain.Errorf(domain.ETOOLARGE, "append of %d bytes; at most %d", size, m.maxAppend)
	}
	return m.Memory.Append(ctx, stream, expected, evs)
}

// types lists the event types appended to the scan's stream, in order.
func (m *memStore) types() []string {
	recs, _ := m.ReadAll(context.Background(), event.Start, math.MaxInt)
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

// queue hands out one job and remembers what happened to it.
type queue struct {
	mu         sync.Mutex
	job        *worker.Job
	released   int
	handedBack int
}

func (q *queue) Claim(context.Context, string, time.Duration, time.Time) (*worker.Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.job
	q.job = nil
	return j, nil
}

func (q *queue) Extend(context.Context, worker.Job, string, time.Duration, time.Time) error {
	return nil
}

func (q *queue) Release(context.Context, worker.Job, string) error {
	q.mu.Lock()
	q.released++
	q.mu.Unlock()
	return nil
}

func (q *queue) HandBack(context.Context, worker.Job, string) error {
	q.mu.Lock()
	q.handedBack++
	q.mu.Unlock()
	return nil
}

func (q *queue) Expire(context.Context, string, time.Time) (int, error) { return 0, nil }

type signer struct{}

func (signer) SignedURL(_ context.Context, key string, _ time.Duration) (string, error) {
	return "https://photos.test/" + key, nil
}

// analyzer answers with resp or err after running during (a hook that may change the
// scan while it is being analysed).
type analyzer struct {
	calls  int
	during func()
	resp   *analysis.Response
	err    error
}

func (a *analyzer) Analyze(_ context.Context, req analysis.Request, _ func(analysis.Progress)) (*analysis.Response, error) {
	a.calls++
	if a.during != nil {
		a.during()
	}
	return a.resp, a.err
}

type fixture struct {
	store    *memStore
	scans    *scan.Handler
	jobs     *queue
	analyzer *analyzer
	w        *worker.Worker
}

const scanID = "s1"

// newFixture returns a worker and a scan whose first attempt is running.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: &memStore{}, jobs: &queue{}, analyzer: &analyzer{resp: &analysis.Response{}}}
	f.scans = scan.NewHandler(f.store)
	f.w = &worker.Worker{Jobs: f.jobs, Scans: f.scans, Analyzer: f.analyzer, Signer: signer{},
		Logger: slog.New(slog.DiscardHandler), MaxRetries: 1}
	f.exec(t, func(s *scan.Scan) error { return s.Create("u1", "h1", true, "") })
	f.exec(t, func(s *scan.Scan) error {
		return s.UploadImages([]scan.Room{{RoomID: "r1", Images: []scan.Image{{ImageID: "i1", BlobKey: "k1", ContentType: "image/jpeg"}}}}, "")
	})
	f.exec(t, func(s *scan.Scan) error { return s.StartProcessing("u1", scan.Checklists{}, nil) })
	return f
}

func (f *fixture) exec(t *testing.T, decide func(*scan.Scan) error) {
	t.Helper()
	if _, err := f.scans.Execute(context.Background(), scanID, scan.Meta{UserID: "u1"}, decide); err != nil {
		t.Fatal(err)
	}
}

// runJob queues attempt's job and runs it.
func (f *fixture) runJob(t *testing.T, attempt int) error {
	t.Helper()
	f.jobs.job = &worker.Job{ScanID: scanID, Attempt: attempt, Claims: 1}
	worked, err := f.w.RunOnce(context.Background())
	if !worked {
		t.Fatal("RunOnce found no job")
	}
	if f.jobs.released != 1 {
		t.Errorf("the job was released %d times, want once", f.jobs.released)
	}
	return err
}

func (f *fixture) load(t *testing.T) *scan.Scan {
	t.Helper()
	s, err := f.scans.Load(context.Background(), scanID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWorker_AnalysesTheRunningAttemptAndRecordsItsResult(t *testing.T) {
	f := newFixture(t)
	if err := f.runJob(t, 1); err != nil {
		t.Fatalf("RunOnce = %v", err)
	}
	s := f.load(t)
	if f.analyzer.calls != 1 || s.Status != scan.StatusSucceeded || s.Progress != 100 {
		t.Errorf("after one job: %d analyses, status %s, progress %d; want 1, succeeded, 100", f.analyzer.calls, s.Status, s.Progress)
	}
}

func TestWorker_AJobForASupersededAttemptIsNotAnalysed(t *testing.T) {
	for name, supersede := range map[string]func(*scan.Scan) error{
		"a newer attempt runs": func(s *scan.Scan) error { return s.Retry(1, "x", "y") },
		"the attempt failed":   func(s *scan.Scan) error { return s.Fail(1, "x", "y", false) },
		"the scan was deleted": func(s *scan.Scan) error { return s.Delete() },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.exec(t, supersede)
			before := len(f.store.types())
			if err := f.runJob(t, 1); err != nil {
				t.Errorf("RunOnce = %v, want nil: a superseded job is done", err)
			}
			if f.analyzer.calls != 0 {
				t.Errorf("the analyzer ran %d times for a superseded attempt", f.analyzer.calls)
			}
			if got := f.store.types(); len(got) != before {
				t.Errorf("events appended for a superseded attempt: %v", got[before:])
			}
		})
	}
}

func TestWorker_AFailedAttemptIsRetriedWhileRetriesRemainThenFails(t *testing.T) {
	f := newFixture(t)
	f.analyzer.resp, f.analyzer.err = nil, &analysis.Error{Code: "upstream", Detail: "503", Retryable: true}
	if err := f.runJob(t, 1); err != nil {
		t.Fatalf("first attempt: RunOnce = %v", err)
	}
	if s := f.load(t); s.Status != scan.StatusRunning || s.Attempt != 2 {
		t.Fatalf("after a retryable failure: status %s attempt %d; want running attempt 2", s.Status, s.Attempt)
	}
	f.jobs.released = 0
	if err := f.runJob(t, 2); err != nil {
		t.Fatalf("second attempt: RunOnce = %v", err)
	}
	if s := f.load(t); s.Status != scan.StatusFailed || s.Attempt != 2 {
		t.Errorf("with no retries left: status %s attempt %d; want failed attempt 2", s.Status, s.Attempt)
	}
}

func TestWorker_AFailureOfAnAttemptThatEndedMeanwhileIsNotAnError(t *testing.T) {
	for name, meanwhile := range map[string]func(*scan.Scan) error{
		"superseded (conflict)": func(s *scan.Scan) error { return s.Fail(1, "cancelled", "by the user", false) },
		"deleted (not found)":   func(s *scan.Scan) error { return s.Delete() },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			var ended int
			f.analyzer.during = func() {
				f.exec(t, meanwhile)
				ended = len(f.store.types())
			}
			f.analyzer.resp, f.analyzer.err = nil, errors.New("connection refused")
			if err := f.runJob(t, 1); err != nil {
				t.Errorf("RunOnce = %v, want nil: the attempt's failure no longer matters", err)
			}
			if got := f.store.types(); len(got) != ended {
				t.Errorf("events appended after the attempt ended: %v", got[ended:])
			}
		})
	}
}

// A result the event store refuses as too large would be refused again however often
// the job ran (and every run pays the analyzer): the attempt fails for good, with a
// code that says why.
func TestWorker_AResultTooLargeToStoreFailsTheAttemptForGood(t *testing.T) {
	f := newFixture(t)
	f.store.maxAppend = 16 << 10
	for range 1000 {
		f.analyzer.resp.Result.ProsCons.Pros = append(f.analyzer.resp.Result.ProsCons.Pros, "a long and glowing remark about the light")
	}
	if err := f.runJob(t, 1); err != nil {
		t.Fatalf("RunOnce = %v, want nil: the attempt's outcome is recorded", err)
	}
	s := f.load(t)
	last := f.store.All[len(f.store.All)-1]
	failed, err := scan.Decode(last)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != scan.StatusFailed || s.Attempt != 1 || failed.(scan.Failed).Code != "result_too_large" {
		t.Fatalf("after a result too large to store: status %s, attempt %d, last event %+v; want failed attempt 1 with result_too_large", s.Status, s.Attempt, failed)
	}
}

func TestWorker_AFailureToRecordAFailureIsReported(t *testing.T) {
	f := newFixture(t)
	f.analyzer.resp, f.analyzer.err = nil, errors.New("connection refused")
	f.w.Scans = scan.NewHandler(failingStore{f.store})
	err := f.runJob(t, 1)
	if err == nil || domain.ErrorCode(err) == domain.ECONFLICT {
		t.Errorf("RunOnce = %v, want the store's error", err)
	}
}

// failingStore reads but cannot append.
type failingStore struct{ *memStore }

func (failingStore) Append(context.Context, string, int64, []event.Data) (event.AppendResult, error) {
	return event.AppendResult{}, errors.New("disk full")
}

// A result whose text the read models cannot store (NUL above all, which PostgreSQL
// refuses) fails the attempt for good as a bad result, with the reason, instead of
// leaving the job unfinished or storing an event a projection would park.
func TestWorker_AResultWithControlCharactersFailsTheAttemptAsABadResult(t *testing.T) {
	f := newFixture(t)
	f.analyzer.resp = &analysis.Response{Result: analysis.Result{HouseTypes: []string{"villa\x00"}}}
	if err := f.runJob(t, 1); err != nil {
		t.Fatalf("RunOnce = %v, want the failure recorded", err)
	}
	if s := f.load(t); s.Status != scan.StatusFailed {
		t.Fatalf("status %s, want failed", s.Status)
	}
	last := f.store.All[len(f.store.All)-1]
	var failed scan.Failed
	if err := json.Unmarshal(last.Data, &failed); err != nil || last.Type != scan.TypeFailed {
		t.Fatalf("last event %s %s, want Failed", last.Type, last.Data)
	}
	if failed.Code != "bad_result" || failed.Retryable || !strings.Contains(failed.Reason, "control characters") {
		t.Errorf("failure %+v, want a non-retryable bad_result naming control characters", failed)
	}
}
