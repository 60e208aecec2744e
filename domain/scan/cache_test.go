package scan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// watchedStore records where each stream read started, and can run a function right
// after an append that fails (while the caller has not seen the failure yet).
type watchedStore struct {
	event.Store
	mu          sync.Mutex
	reads       []int64
	afterFailed func()
}

func (w *watchedStore) ReadStream(ctx context.Context, stream string, from int64, max int) ([]event.Recorded, error) {
	w.mu.Lock()
	w.reads = append(w.reads, from)
	w.mu.Unlock()
	return w.Store.ReadStream(ctx, stream, from, max)
}

func (w *watchedStore) Append(ctx context.Context, stream string, expected int64, evs []event.Data) (event.AppendResult, error) {
	res, err := w.Store.Append(ctx, stream, expected, evs)
	if err != nil && w.afterFailed != nil {
		f := w.afterFailed
		w.afterFailed = nil
		f()
	}
	return res, err
}

// readsSince returns the read starts recorded since the last call.
func (w *watchedStore) readsSince() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.reads
	w.reads = nil
	return r
}

func reportProgress(p int) func(*scan.Scan) error {
	return func(s *scan.Scan) error { return s.ReportProgress(1, p, fmt.Sprintf("at %d", p), nil) }
}

func startProcessing(s *scan.Scan) error {
	villa := "villa"
	return s.StartProcessing("u1", scan.Checklists{House: json.RawMessage(`{"a":1}`)}, &villa)
}

func verifyChain(t *testing.T, h *scan.Handler, id string) []event.Recorded {
	t.Helper()
	recs, err := h.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := event.Verify(scan.StreamName(id), recs); err != nil {
		t.Fatalf("chain: %v", err)
	}
	return recs
}

// readsToStartProcessing creates and uploads scan s1 through h, then starts processing
// it and returns where the stream reads of that last command started.
func readsToStartProcessing(t *testing.T, h *scan.Handler, st *watchedStore) []int64 {
	t.Helper()
	createAndUpload(t, h)
	st.readsSince()
	if _, err := h.Execute(context.Background(), "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	return st.readsSince()
}

func TestHandlerReadsOnlyTheEventsAfterTheCachedVersion(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	h := newHandler(st)
	// From version 1, the cached one: its event is read again to check that the stream
	// still holds it, then version 2 on.
	if got := readsToStartProcessing(t, h, st); len(got) != 1 || got[0] != 1 {
		t.Fatalf("stream reads started at %v, want one read from version 1", got)
	}
	verifyChain(t, h, "s1")
}

func TestHandlerWithoutCacheReadsTheWholeStream(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	h := newHandler(st)
	h.CacheSize = -1
	if got := readsToStartProcessing(t, h, st); len(got) != 1 || got[0] != 0 {
		t.Fatalf("stream reads started at %v, want one read from version 0", got)
	}
}

func TestHandlerCatchesUpWithAnotherInstancesAppends(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	ours, theirs := newHandler(st), newHandler(st)
	createAndUpload(t, ours) // ours now holds s1 at version 1
	if _, err := theirs.Execute(context.Background(), "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	// Ours still believes the scan is queued; the command must see it running.
	st.readsSince()
	res, err := ours.Execute(context.Background(), "s1", scan.Meta{}, reportProgress(40))
	if err != nil {
		t.Fatalf("progress on a scan another instance started: %v", err)
	}
	if res.Scan.Status != scan.StatusRunning || res.Scan.Progress != 40 || res.Scan.Version != 3 {
		t.Fatalf("state after the command: status %s progress %d version %d", res.Scan.Status, res.Scan.Progress, res.Scan.Version)
	}
	if got := st.readsSince(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("stream reads started at %v, want one read from the cached version", got)
	}
	// And a decision ours could only make on stale state is refused.
	if _, err := ours.Execute(context.Background(), "s1", scan.Meta{}, startProcessing); err == nil {
		t.Fatal("started processing twice")
	}
	if recs := verifyChain(t, ours, "s1"); len(recs) != 4 {
		t.Fatalf("%d events, want 4", len(recs))
	}
}

func TestHandlerConflictAfterTheCatchUpDecidesAgainOnFreshState(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	ours, theirs := newHandler(st), newHandler(st)
	createAndUpload(t, ours)
	if _, err := ours.Execute(context.Background(), "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	calls := 0
	res, err := ours.Execute(context.Background(), "s1", scan.Meta{}, func(s *scan.Scan) error {
		calls++
		if calls == 1 { // another instance reports 70% between our read and our append
			if _, err := theirs.Execute(context.Background(), "s1", scan.Meta{}, reportProgress(70)); err != nil {
				t.Fatal(err)
			}
		}
		return s.ReportProgress(1, 50, "late", nil)
	})
	if calls != 2 || err == nil || res.Scan == nil || res.Scan.Progress != 70 {
		t.Fatalf("calls %d, err %v: the second decision must see 70%% and refuse 50%%", calls, err)
	}
	if recs := verifyChain(t, ours, "s1"); len(recs) != 4 {
		t.Fatalf("%d events, want 4", len(recs))
	}
}

func TestHandlerRetryFindsItsLostEventsAfterAnotherCommandMovedTheCache(t *testing.T) {
	mem := &memStore{}
	st := &watchedStore{Store: mem}
	h := newHandler(st)
	createAndUpload(t, h)
	if _, err := h.Execute(context.Background(), "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	// Our append commits but its answer is lost; before we retry, another command on
	// the same handler appends after our events and caches the scan past them.
	mem.failNext.Store(true)
	st.afterFailed = func() {
		if _, err := h.Execute(context.Background(), "s1", scan.Meta{}, reportProgress(60)); err != nil {
			t.Error(err)
		}
	}
	calls := 0
	res, err := h.Execute(context.Background(), "s1", scan.Meta{}, func(s *scan.Scan) error {
		calls++
		return s.ReportProgress(1, 30, "first", nil)
	})
	if err != nil {
		t.Fatalf("the retry must find the committed events: %v", err)
	}
	recs := verifyChain(t, h, "s1")
	if calls != 1 || len(recs) != 5 || res.Scan.Progress != 60 {
		t.Fatalf("decided %d times, %d events, progress %d; want once, 5, 60", calls, len(recs), res.Scan.Progress)
	}
}

func TestHandlerReloadsWhenTheStoreIsBehindItsCache(t *testing.T) {
	// With TrustCache the stale cache is decided on first: the store refuses the append
	// or the command is refused, and the stream's own state is read then.
	for _, trust := range []bool{false, true} {
		t.Run(fmt.Sprintf("TrustCache=%v", trust), func(t *testing.T) {
			mem := &memStore{}
			h := newHandler(mem)
			h.TrustCache = trust
			createAndUpload(t, h)
			if _, err := h.Execute(context.Background(), "s1", scan.Meta{}, startProcessing); err != nil {
				t.Fatal(err)
			}
			mem.All = mem.All[:2] // restored from a backup taken before processing started
			res, err := h.Execute(context.Background(), "s1", scan.Meta{}, startProcessing)
			if err != nil {
				t.Fatalf("command after the store went back: %v", err)
			}
			if res.Scan.Version != 2 || res.Scan.Attempt != 1 {
				t.Fatalf("version %d attempt %d, want 2 and 1", res.Scan.Version, res.Scan.Attempt)
			}
			verifyChain(t, h, "s1")
		})
	}
}

func TestHandlerCachesAtMostCacheSizeScans(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	h := newHandler(st)
	h.CacheSize = 2
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := h.Execute(ctx, id, scan.Meta{}, func(s *scan.Scan) error { return s.Create("u1", "h1", true, "") }); err != nil {
			t.Fatal(err)
		}
	}
	st.readsSince()
	for _, id := range []string{"c", "b", "a"} {
		if _, err := h.Load(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// a was evicted by c; loading a again evicts c, the least recently used.
	if got := st.readsSince(); fmt.Sprint(got) != "[0 0 0]" {
		t.Fatalf("stream reads started at %v, want [0 0 0]", got)
	}
}

func TestHandlerCallersNeverShareState(t *testing.T) {
	h := newHandler(&memStore{})
	createAndUpload(t, h)
	ctx := context.Background()
	// An address, so that the attempt's inputs snapshot holds one to scribble on.
	if _, err := h.Execute(ctx, "s1", scan.Meta{}, func(s *scan.Scan) error { return s.UploadImages([]scan.Room{room0}, "1 Main St") }); err != nil {
		t.Fatal(err)
	}
	res, err := h.Execute(ctx, "s1", scan.Meta{}, startProcessing)
	if err != nil {
		t.Fatal(err)
	}
	scribble := func(s *scan.Scan) {
		s.Rooms[0].Label = "scribbled"
		s.Rooms[0].Images[0].BlobKey = "scribbled"
		s.Checklists.House[0] = 'X'
		*s.InputsSnapshot.Address = "scribbled"
		*s.InputsSnapshot.HouseType = "scribbled"
		s.Status = scan.StatusFailed
	}
	scribble(res.Scan)
	loaded, err := h.Load(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	scribble(loaded)
	// A decision that scribbles and then refuses leaves nothing behind either.
	_, _ = h.Execute(ctx, "s1", scan.Meta{}, func(s *scan.Scan) error {
		scribble(s)
		return errors.New("refused")
	})
	s, err := h.Load(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != scan.StatusRunning || s.Rooms[0].Label != room0.Label || s.Rooms[0].Images[0].BlobKey != room0.Images[0].BlobKey ||
		string(s.Checklists.House) != `{"a":1}` || *s.InputsSnapshot.Address != "1 Main St" ||
		*s.InputsSnapshot.HouseType != "villa" {
		t.Fatalf("a caller's change leaked into the handler's state: %+v", s)
	}
}

// Run with -race: commands on one scan from many goroutines through one handler, each
// caller changing its own copy of the result.
func TestHandlerConcurrentCommandsOnOneScan(t *testing.T) {
	h := newHandler(&memStore{})
	h.Attempts = 1000 // every command must get through, however often it loses a race
	createAndUpload(t, h)
	ctx := context.Background()
	if _, err := h.Execute(ctx, "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				res, err := h.Execute(ctx, "s1", scan.Meta{}, func(s *scan.Scan) error {
					return s.ReportProgress(1, 50, fmt.Sprintf("worker %d step %d", w, i), nil)
				})
				if err != nil {
					t.Error(err)
					return
				}
				res.Scan.Rooms[0].Label = fmt.Sprint(w)
				if _, err := h.Load(ctx, "s1"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	recs := verifyChain(t, h, "s1")
	s, err := h.Load(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 + workers*each; len(recs) != want || s.Version != int64(want-1) || s.Rooms[0].Label != room0.Label {
		t.Fatalf("%d events, version %d, label %q; want %d events", len(recs), s.Version, s.Rooms[0].Label, want)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.ID] {
			t.Fatalf("event %s appended twice", r.ID)
		}
		seen[r.ID] = true
	}
}
