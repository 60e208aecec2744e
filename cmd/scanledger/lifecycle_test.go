package main_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/domain"
)

// startProcessing creates a scan with photos, asks for its analysis and waits until
// the analyzer has the call; it returns the scan's path and the user's live feed.
func startProcessing(t *testing.T, srv *server, agents *agentstest.Server, tok string) (string, <-chan liveEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	live := srv.follow(ctx, tok, "", "")
	_, path := srv.submitScan(tok, `{}`, photos(t), nil)
	calls := agents.Calls()
	waitFor(t, 60*time.Second, "the analysis to start", func() bool { return agents.Calls() > calls })
	return path, live, cancel
}

// finished follows a feed until the scan completes, and fails on any failure or
// second start of processing on the way: a restart must not cost an attempt.
func finished(t *testing.T, live <-chan liveEvent, within time.Duration, logs func() string) {
	t.Helper()
	deadline := time.After(within)
	starts := 0
	for {
		select {
		case ev := <-live:
			switch ev.Event {
			case "scan:processing":
				if starts++; starts > 1 {
					t.Fatalf("processing started again (a retry): %+v", ev)
				}
			case "scan:failed":
				t.Fatalf("the scan failed: %+v", ev)
			case "scan:completed":
				return
			}
		case <-deadline:
			t.Fatalf("the scan did not complete within %s\n%s", within, logs())
		}
	}
}

// completesAfterRestart follows the user's feed on the second life from its start and
// requires the scan to complete there, with no second start of processing.
func completesAfterRestart(t *testing.T, first, second *server, tok string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	finished(t, second.follow(ctx, tok, "0", ""), 60*time.Second, func() string { return first.logs.String() + second.logs.String() })
}

// SIGTERM while an analysis runs drains: the analysis may finish (within
// SCANLEDGER_SHUTDOWN_DRAIN) and its result is stored, with no failed attempt.
func TestSIGTERMLetsARunningAnalysisFinish(t *testing.T) {
	srv := startHeld(t, "SCANLEDGER_SHUTDOWN_DRAIN=60s")
	tok := srv.token(domain.NewID(), "user")
	path, live, cancel := startProcessing(t, srv.server, srv.agents, tok)
	defer cancel()

	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond) // the shutdown is under way
	srv.release()
	select {
	case <-srv.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not stop\n%s", srv.logs.String())
	}
	srv2 := srv.restart()
	// The analysis answered during the drain; nothing runs it again (the analyzer
	// would now hold any new call forever).
	completesAfterRestart(t, srv.server, srv2, tok)
	if n := srv.agents.Calls(); n != 1 {
		t.Fatalf("%d analyzer calls, want 1", n)
	}
	var got struct{ Status string }
	srv2.do("GET", path, tok, "", nil).data(t, &got)
	if got.Status != "succeeded" {
		t.Fatalf("after a drained shutdown the scan is %q, want succeeded", got.Status)
	}
	_ = live
}

// SIGTERM while an analysis runs past the drain hands the job back: no failure is
// recorded, and the next start runs the same attempt to the end.
func TestSIGTERMHandsBackAnAnalysisThatOutlastsTheDrain(t *testing.T) {
	srv := startHeld(t, "SCANLEDGER_SHUTDOWN_DRAIN=1s", "SCANLEDGER_WORKER_LEASE=5m")
	tok := srv.token(domain.NewID(), "user")
	_, _, cancel := startProcessing(t, srv.server, srv.agents, tok)
	defer cancel()
	srv.stop()

	srv.agents.SetBehaviours(agentstest.Succeed())
	// The lease is 5 minutes: only a job handed back is taken again this soon.
	completesAfterRestart(t, srv.server, srv.restart(), tok)
}

// After a crash (SIGKILL), the restarted instance takes back the jobs its previous
// life held at once, instead of waiting for their leases (5 minutes here) to run out.
func TestARestartedInstanceTakesBackItsJobsAtOnce(t *testing.T) {
	srv := startHeld(t, "SCANLEDGER_WORKER_LEASE=5m")
	tok := srv.token(domain.NewID(), "user")
	path, _, cancel := startProcessing(t, srv.server, srv.agents, tok)
	defer cancel()
	srv.kill()

	srv.agents.SetBehaviours(agentstest.Succeed())
	srv2 := srv.restart()
	waitFor(t, 60*time.Second, "the scan to end", func() bool {
		var got struct{ Status string }
		srv2.do("GET", path, tok, "", nil).data(t, &got)
		return got.Status == "succeeded" || got.Status == "failed"
	})
}
