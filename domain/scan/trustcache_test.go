package scan_test

import (
	"context"
	"testing"

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

// A command accepted on a stale cache is appended at the cached version, which the store
// refuses; the command then reads what it missed and decides again.
func TestTrustedCacheMadeStaleByAnotherWriterIsCaughtByTheVersionCheck(t *testing.T) {
	st := &watchedStore{Store: &memStore{}}
	ours, theirs := trustingHandler(st), newHandler(st)
	ctx := context.Background()
	createAndUpload(t, ours)
	if _, err := ours.Execute(ctx, "s1", scan.Meta{}, startProcessing); err != nil {
		t.Fatal(err)
	}
	if _, err := theirs.Execute(ctx, "s1", scan.Meta{}, reportProgress(20)); err != nil {
		t.Fatal(err)
	}
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
