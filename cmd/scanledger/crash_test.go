package main_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/domain"
)

// Killing the server (SIGKILL) while the analysis of a scan is running loses nothing:
// after a restart on the same data dir the abandoned attempt's lease runs out, a worker
// takes it over, and the scan ends succeeded or failed, never stuck running. A client
// that resumes with its last id sees every event exactly once.
func TestCrashWhileRunningRecoversOnRestart(t *testing.T) {
	inEveryMode(t, crashWhileRunning)
}

func crashWhileRunning(t *testing.T, modeEnv []string) {
	srv := startHeld(t, append([]string{"SCANLEDGER_WORKER_LEASE=2s"}, modeEnv...)...)
	user := domain.NewID()
	tok := srv.token(user, "user")
	ctx, cancel := context.WithCancel(context.Background())
	live := srv.follow(ctx, tok, "", "")

	_, scanPath := srv.submitScan(tok, `{}`, photos(t), nil)
	// Wait until the analysis is under way (it is held there) and a live event has
	// reached the client, then kill the server mid-flight.
	var seen []liveEvent
	deadline := time.After(60 * time.Second)
	for srv.agents.Calls() == 0 || len(seen) == 0 {
		select {
		case ev := <-live:
			seen = append(seen, ev)
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the analysis never started; events %+v", seen)
		}
	}
	srv.kill()
	cancel()
	for drained := false; !drained; {
		select {
		case ev := <-live:
			seen = append(seen, ev)
		default:
			drained = true
		}
	}
	if len(seen) == 0 {
		t.Fatal("no event before the crash")
	}

	// The analysis answers from now on; restart on the same data dir.
	srv.agents.SetBehaviours(agentstest.Succeed())
	srv2 := srv.restart()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	last := seen[len(seen)-1].ID
	rest := srv2.follow(ctx2, tok, strconv.FormatInt(last, 10), "")
	var after []liveEvent
	deadline = time.After(90 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-rest:
			after = append(after, ev)
			done = ev.Event == "scan:completed" || ev.Event == "scan:failed"
		case <-deadline:
			t.Fatalf("the scan never finished after the restart; events %+v\n%s", after, srv2.logs.String())
		}
	}

	// Every feed id from the first to the last arrives exactly once, in order.
	all := append(seen, after...)
	for i := 1; i < len(all); i++ {
		if all[i].ID != all[i-1].ID+1 {
			t.Fatalf("feed ids not contiguous across the crash: %+v", all)
		}
	}
	var got struct{ Status string }
	srv2.do("GET", scanPath, tok, "", nil).data(t, &got)
	if got.Status != "succeeded" && got.Status != "failed" {
		t.Fatalf("scan ended %q", got.Status)
	}
	var verified struct {
		Valid  bool
		Events int
	}
	srv2.do("GET", scanPath+"/verify", tok, "", nil).data(t, &verified)
	if !verified.Valid {
		t.Fatal("history does not verify after the crash")
	}
	if srv.agents.Calls() > 3 {
		t.Fatalf("%d paid analysis calls for one scan; attempts must stay bounded", srv.agents.Calls())
	}
}
