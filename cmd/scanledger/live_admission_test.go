package main_test

import (
	"net/http"
	"os"
	"os/exec"
	"testing"

	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
)

// Socket.IO obeys the API's live-connection rules: its connections count toward the
// same per-user cap as SSE and WebSocket streams (beyond it the PWA's socket.io-client
// gets connect_error with the reason), and a revoked user's still-unexpired access
// token is refused with connect_error "Unauthorized", as on every other route.
func TestSocketIOIsCappedPerUserAndRefusesRevokedUsers(t *testing.T) {
	dataDir := t.TempDir()
	env := append(postgresS3Env(t), "SCANLEDGER_LIVE_PER_USER=2")
	srv := startServer(t, dataDir, env...)
	defer srv.stop()
	signup := func(email string) string {
		var session struct{ AccessToken string }
		r := srv.json("POST", "/api/v1/auth/signup", "", `{"email":"`+email+`","password":"secret1","firstName":"A","lastName":"B"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("signup: %d %s", r.Status, r.Body)
		}
		r.data(t, &session)
		return session.AccessToken
	}
	answer := func(o socketiotest.Observation) bool { return o.Ev == "connect" || o.Ev == "connect_error" }

	ada := signup("ada@example.com")
	for i := range 2 {
		if o := startPWASocket(t, srv.base, ada).WaitFor("connect", sioWait, answer); o.Ev != "connect" {
			t.Fatalf("socket %d: %s", i, o)
		}
	}
	const full = "Too many live connections for this user (at most 2)"
	if o := startPWASocket(t, srv.base, ada).WaitFor("the refusal", sioWait, answer); o.Ev != "connect_error" || o.Message != full {
		t.Fatalf("third socket of one user: %s, want connect_error %q", o, full)
	}
	// The cap is shared with the other transports.
	if r := srv.do("GET", "/api/v1/events", ada, "", nil); r.Status != http.StatusTooManyRequests {
		t.Fatalf("an SSE stream beside two sockets: %d, want 429", r.Status)
	}

	bob := signup("bob@example.com")
	cmd := exec.Command(binary, "revoke", "--data-dir", dataDir, "--email", "bob@example.com")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if o := startPWASocket(t, srv.base, bob).WaitFor("the refusal", sioWait, answer); o.Ev != "connect_error" || o.Message != "Unauthorized" {
		t.Fatalf("a revoked user's socket: %s, want connect_error Unauthorized", o)
	}
}
