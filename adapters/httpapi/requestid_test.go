package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// A client's X-Request-Id ends up in every event the request appends, and events are
// immutable: only a short, plain id is kept; anything else is replaced by one we mint,
// so a client cannot write megabytes or control characters into the history.
func TestRequestIDsInEventMetadataAreBounded(t *testing.T) {
	a := newAccountsAPI(t)
	bearer := a.signup("rid@example.com").AccessToken
	minted := regexp.MustCompile(`^[0-9a-f-]{36}$`)
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"plain id is kept", "req-42_a.b:c", true},
		{"uuid is kept", "0d5b7e3e-8a61-4f5e-b7a5-1a2b3c4d5e6f", true},
		{"900 kB id is replaced", strings.Repeat("A", 900_000), false},
		{"129 bytes is replaced", strings.Repeat("a", 129), false},
		{"spaces and quotes are replaced", `a "b" c`, false},
		{"non-ASCII is replaced", "réquête", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("POST", "/scans", bearer, "application/json", strings.NewReader(`{"address":"1 Test Street"}`), "X-Request-Id", tc.sent)
			r.want(t, http.StatusCreated)
			var created struct{ ScanID string }
			r.data(t, &created)
			var events []struct {
				Metadata json.RawMessage `json:"metadata"`
			}
			a.do("GET", "/scans/"+created.ScanID+"/events", bearer, "", nil).want(t, http.StatusOK).data(t, &events)
			if len(events) == 0 {
				t.Fatal("no events")
			}
			var md struct {
				CorrelationID string `json:"correlationId"`
				CausationID   string `json:"causationId"`
			}
			if err := json.Unmarshal(events[0].Metadata, &md); err != nil {
				t.Fatal(err)
			}
			if tc.kept && md.CorrelationID != tc.sent {
				t.Fatalf("correlation id %q, want the client's %q", md.CorrelationID, tc.sent)
			}
			if !tc.kept && !minted.MatchString(md.CorrelationID) {
				t.Fatalf("correlation id %.60q (%d bytes), want one minted by the server", md.CorrelationID, len(md.CorrelationID))
			}
			if got := r.header.Get("X-Request-Id"); got != md.CorrelationID {
				t.Fatalf("X-Request-Id answered %.60q, want the id recorded (%q)", got, md.CorrelationID)
			}
			if len(events[0].Metadata) > 1024 {
				t.Fatalf("metadata is %d bytes", len(events[0].Metadata))
			}
		})
	}
}
