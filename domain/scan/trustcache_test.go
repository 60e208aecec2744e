package scan_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

func trustingHandler(st *watchedStore) *scan.Handler {
	h := newHandler(st)
	h.TrustCache = true
	return h
}

func TestTrustedCacheDecidesWithoutReadingTheStream(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	h := trustingHandler(st)
	if got := readsToStartProcessing(t, h, st); len(got) != 0 {
		t.Fatalf("stream reads started at %v, want none", got)
	}
	verifyChain(t, h, "s1")
}

// makeStale leaves ours holding scan s1 cached at version 2 (running) and theirs
// moving it on to version 3 behind ours' back.
func makeStale(t *testing.T, ours, theirs *scan.Handler) {
	t.Helper()
	ctx := context.Background()
	createAndUpload(t, ours)
	if _, err := ours.Execute(ctx, "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	if _, err := theirs.Execute(ctx, "s1", scan.Meta{}, reportProgress(20)); err != nil {
		t.Fatal(err)
	}
}

// A command accepted on a stale cache is appended at the cached version, which the store
// refuses; the command then reads what it missed and decides again.
func TestTrustedCacheMadeStaleByAnotherWriterIsCaughtByTheVersionCheck(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	ours, theirs := trustingHandler(st), newHandler(st)
	ctx := context.Background()
	makeStale(t, ours, theirs)
	st.readsSince()
	res, err := ours.Execute(ctx, "s1", scan.Meta{}, reportProgress(30))
	if err != nil {
		t.Fatal(err)
	}
	if res.Scan.Version != 4 || res.Scan.Progress != 30 {
		t.Fatalf("version %d progress %d, want 4 and 30", res.Scan.Version, res.Scan.Progress)
	}
	if got := st.readsSince(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("stream reads started at %v, want one from the cached version 2", got)
	}
	if recs := verifyChain(t, ours, "s1"); len(recs) != 5 {
		t.Fatalf("%d events, want 5", len(recs))
	}
}

// A command refused on the cached state is decided again on the stream's: another
// writer may have made it valid.
func TestTrustedCacheRefusalIsCheckedAgainstTheStream(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	ours, theirs := trustingHandler(st), newHandler(st)
	ctx := context.Background()
	createAndUpload(t, ours) // ours holds s1 queued
	if _, err := theirs.Execute(ctx, "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	res, err := ours.Execute(ctx, "s1", scan.Meta{}, reportProgress(40))
	if err != nil {
		t.Fatalf("progress on a scan another instance started: %v", err)
	}
	if res.Scan.Status != scan.StatusRunning || res.Scan.Version != 3 {
		t.Fatalf("status %s version %d, want running at 3", res.Scan.Status, res.Scan.Version)
	}
	// A refusal that the stream confirms stands.
	if _, err := ours.Execute(ctx, "s1", scan.Meta{}, startProcessing); err == nil {
		t.Fatal("started processing twice")
	}
	verifyChain(t, ours, "s1")
}

// refusingStore refuses the next append with a final error (too large) before looking
// at its expected version, as a store that checks sizes first does.
type refusingStore struct {
	*memStore
	refuseNext atomic.Bool
}

func (r *refusingStore) Append(ctx context.Context, stream string, expected int64, evs []event.Data) (event.AppendResult, error) {
	if r.refuseNext.CompareAndSwap(true, false) {
		return event.AppendResult{}, domain.Errorf(domain.ETOOLARGE, "append too large")
	}
	return r.memStore.Append(ctx, stream, expected, evs)
}

// A final error from the store after deciding on cached state that was not read from
// the stream does not stand before the command is decided again on the stream's state:
// the events it refused were those of a stale decision.
func TestTrustedCacheStoreRefusalIsCheckedAgainstTheStream(t *testing.T) {
	st := &refusingStore{memStore: &memStore{}}
	ours, theirs := newHandler(st), newHandler(st)
	ours.TrustCache = true
	ctx := context.Background()
	makeStale(t, ours, theirs)
	st.refuseNext.Store(true) // ours decides on its cache at version 2, now stale
	res, err := ours.Execute(ctx, "s1", scan.Meta{}, reportProgress(30))
	if err != nil {
		t.Fatalf("command refused by the store on unread cached state: %v", err)
	}
	if res.Scan.Version != 4 || res.Scan.Progress != 30 {
		t.Fatalf("version %d progress %d, want 4 and 30", res.Scan.Version, res.Scan.Progress)
	}
	// A store refusal on state read from the stream stands.
	st.refuseNext.Store(true)
	if _, err := theirs.Execute(ctx, "s1", scan.Meta{}, reportProgress(50)); domain.ErrorCode(err) != domain.ETOOLARGE {
		t.Fatalf("store refusal on read state = %v, want too large", err)
	}
	verifyChain(t, ours, "s1")
}
