package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/kurrentdb/kurrentdbtest"
	"github.com/scanledger/scanledger/domain"
)

// KurrentDB going away for longer than its client's reconnection attempts (a restart,
// a leader change): the service stays up, answers 503 to writes and to readiness
// meanwhile, and recovers by itself once KurrentDB is back: new writes succeed and
// the projections' subscription resumes, with nothing lost.
func TestKurrentDBRestartServiceRecovers(t *testing.T) {
	env := postgresS3Env(t)
	fs, esdb := kurrentdbtest.Start(t)
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SCANLEDGER_EVENTSTORE="); ok {
			env[i] = "SCANLEDGER_READMODEL=" + v
		}
	}
	env = append(env, "SCANLEDGER_EVENTSTORE="+esdb)
	srv := startServer(t, t.TempDir(), env...)
	tok := srv.token(domain.NewID(), "user")

	create := func() response { return srv.json("POST", "/api/v1/scans", tok, `{}`) }
	var before struct{ ScanID string }
	create().data(t, &before)

	fs.Stop()
	if r := create(); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("create while KurrentDB is down: %d %s, want 503", r.Status, r.Body)
	}
	time.Sleep(1500 * time.Millisecond) // past the client's own reconnection attempts
	if r := srv.do("GET", "/readyz", "", "", nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz while KurrentDB is down: %d %s, want 503", r.Status, r.Body)
	}
	fs.Restart(t)

	var after struct{ ScanID string }
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := create()
		if r.Status == http.StatusCreated {
			r.data(t, &after)
			break
		}
		if r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("create after KurrentDB came back: %d %s\n%s", r.Status, r.Body, srv.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, id := range []string{before.ScanID, after.ScanID} {
		for {
			r := srv.do("GET", "/api/v1/scans/"+id, tok, "", nil)
			if r.Status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scan %s never projected: %d %s\n%s", id, r.Status, r.Body, srv.logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if r := srv.do("GET", "/readyz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("readyz after recovery: %d %s", r.Status, r.Body)
	}
	if !strings.Contains(srv.logs.String(), "kurrentdb") {
		t.Fatalf("no log line about the outage:\n%s", srv.logs.String())
	}
}
