package main_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// TestAnalytics_TheServedBinaryAnswersAnalystsFromItsOwnScans runs the whole chain as
// deployed: the analytics projection inside serve, the role set with `scanledger
// role`, the routes behind the stored role.
func TestAnalytics_TheServedBinaryAnswersAnalystsFromItsOwnScans(t *testing.T) {
	srv := startServer(t, t.TempDir())
	checkOpenAPI(t, srv)
	tok := srv.token(domain.NewID(), "user")
	srv.submitScan(tok, `{"address":"12 Harbour Road"}`, photos(t), map[string]string{"rooms": `[{"imageIndices":[0]},{"imageIndices":[1]}]`})

	if r := srv.json("POST", "/api/v1/auth/signup", "", `{"email":"ana@example.com","password":"secret1","firstName":"Ana","lastName":"Lyst"}`); r.Status != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	if out, errOut, err := cli(t, "", nil, "role", "--data-dir", srv.dataDir, "--email", "ana@example.com", "--role", "analyst"); err != nil {
		t.Fatalf("role: %v: %s%s", err, out, errOut)
	}
	var session struct{ AccessToken string }
	srv.json("POST", "/api/v1/auth/login", "", `{"email":"ana@example.com","password":"secret1"}`).data(t, &session)

	var outcomes []struct {
		Status          string
		Scans, Attempts int
	}
	deadline := time.Now().Add(120 * time.Second)
	for len(outcomes) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no outcome appeared")
		}
		time.Sleep(100 * time.Millisecond)
		r := srv.do("GET", "/api/v1/analytics/outcomes", session.AccessToken, "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("outcomes: %d %s", r.Status, r.Body)
		}
		r.data(t, &outcomes)
	}
	if len(outcomes) != 1 || outcomes[0].Status != "succeeded" || outcomes[0].Scans != 1 || outcomes[0].Attempts != 1 {
		t.Fatalf("outcomes: %+v", outcomes)
	}
	var durations []struct {
		Status     string
		Attempts   int
		P50Seconds float64
	}
	// Durations and item outcomes come from the analytics projection, which follows the
	// event store on its own checkpoint: it may still be a step behind the scans table.
	waitFor(t, 60*time.Second, "the analytics projection to record the attempt", func() bool {
		durations = nil
		srv.do("GET", "/api/v1/analytics/durations", session.AccessToken, "", nil).data(t, &durations)
		return len(durations) > 0
	})
	if len(durations) != 1 || durations[0].Attempts != 1 || durations[0].P50Seconds <= 0 {
		t.Errorf("durations: %+v", durations)
	}
	// The offline analyzer judges photo quality only: every item it was given is
	// counted, and counted as not assessed.
	var items []struct {
		Scope, ItemID            string
		Evaluations, NotAssessed int
	}
	waitFor(t, 60*time.Second, "checklist items", func() bool {
		items = nil
		srv.do("GET", "/api/v1/analytics/checklist-items", session.AccessToken, "", nil).data(t, &items)
		return len(items) > 0
	})
	for _, it := range items {
		if it.Evaluations == 0 || it.NotAssessed != it.Evaluations {
			t.Errorf("item %+v: the offline analyzer assesses nothing", it)
		}
	}
	if r := srv.do("GET", "/api/v1/analytics/outcomes", tok, "", nil); r.Status != http.StatusForbidden {
		t.Errorf("a user reading analytics: %d, want 403", r.Status)
	}
}
