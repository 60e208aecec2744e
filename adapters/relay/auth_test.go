package relay_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// Every transport authenticates with the same access token; nothing else (a refresh
// token, an expired token, a resume id or pid from someone else) opens anyone's feed.

func TestSSE_RefusesMissingExpiredAndRefreshTokensWith401(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	for name, tok := range map[string]string{
		"no token":      "",
		"expired token": e.expiredToken(user),
		"refresh token": e.refreshToken(user),
		"garbage":       "not-a-jwt",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dialSSE(e, sseDial{token: tok})
			if code := statusOf(t, err); code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", code)
			}
		})
	}
	_, err := dialSSE(e, sseDial{token: e.expiredToken(user)})
	if !strings.Contains(err.Error(), "Token expired") {
		t.Errorf("expired token: %v, want the body to say Token expired", err)
	}
}

func TestWebSocket_RefusesMissingExpiredAndRefreshTokensWith401BeforeUpgrading(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	for name, d := range map[string]wsDial{
		"no token":                   {},
		"expired token in protocol":  {token: e.expiredToken(user)},
		"expired token in query":     {token: e.expiredToken(user), inQuery: true},
		"refresh token in protocol":  {token: e.refreshToken(user)},
		"refresh token in query":     {token: e.refreshToken(user), inQuery: true},
		"token signed by a stranger": {token: strangerToken(t, user)},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := dialWS(e, d)
			if code := statusOf(t, err); code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401 before the upgrade", code)
			}
		})
	}
	if n := e.hub.Subscribers(); n != 0 {
		t.Errorf("%d subscriptions after refused handshakes, want 0", n)
	}
}

func TestWebSocket_RefusesForeignOriginsAndAcceptsConfiguredOnes(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	_, _, err := dialWS(e, wsDial{token: e.token(user), origin: "http://evil.example"})
	if code := statusOf(t, err); code != http.StatusForbidden {
		t.Fatalf("foreign origin: status %d, want 403", code)
	}
	c, _, err := dialWS(e, wsDial{token: e.token(user), origin: allowedOrigin})
	if err != nil {
		t.Fatalf("configured origin: %v", err)
	}
	defer c.drain()
	want := e.failing(user)
	assertWire(t, c.collect(t, len(want)), want, 1)
	eventually(t, 10*time.Second, "the refused handshake's subscription to end", func() bool { return e.hub.Subscribers() == 1 })
}

func TestSocketIO_RefusesMissingExpiredAndRefreshTokensWithConnectError(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	for name, tc := range map[string]struct {
		token, message string
	}{
		"no token":      {"", "Unauthorized"},
		"expired token": {e.expiredToken(user), "Token expired"},
		"refresh token": {e.refreshToken(user), "Unauthorized"},
		"stranger":      {strangerToken(t, user), "Unauthorized"},
	} {
		t.Run(name, func(t *testing.T) {
			c := startSocketIO(t, e, socketiotest.Options{Token: tc.token})
			o := c.waitFor("connect_error", func(o observation) bool { return o.Ev == "connect_error" || o.Ev == "connect" })
			if o.Ev != "connect_error" || o.Message != tc.message {
				t.Fatalf("got %v, want connect_error %q", o, tc.message)
			}
		})
	}
}

func TestSocketIO_AnotherUsersPIDIsNotHonoured(t *testing.T) {
	e := newEnv(t, envConfig{})
	alice, mallory := domain.NewID(), domain.NewID()
	a := startSocketIO(t, e, socketiotest.Options{Token: e.token(alice), Transports: []string{"websocket"}})
	pid := a.waitFor("alice connects", socketiotest.IsEv("connect")).PID
	aliceWants := e.lifecycle(alice)
	assertWire(t, a.events(len(aliceWants)), aliceWants, 1)

	// Mallory presents Alice's pid and an offset before Alice's messages.
	m := startSocketIO(t, e, socketiotest.Options{Token: e.token(mallory), Transports: []string{"websocket"},
		Auth: map[string]any{"pid": pid, "offset": "0"}})
	if o := m.waitFor("mallory connects", socketiotest.IsEv("connect")); o.Recovered || o.PID == pid {
		t.Fatalf("mallory: %v, want a fresh session: the pid is not hers", o)
	}
	malloryWants := e.failing(mallory)
	assertWire(t, m.events(len(malloryWants)), malloryWants, 1)
	for _, o := range m.Quiet(200 * time.Millisecond) {
		if o.Ev == "event" {
			t.Errorf("mallory got %v", o)
		}
	}
}

func TestEveryTransport_AResumeIDBeyondTheUsersFeedIsAResyncNotSomeoneElsesEvents(t *testing.T) {
	e := newEnv(t, envConfig{})
	alice, bob := domain.NewID(), domain.NewID()
	for range 3 {
		e.lifecycle(alice) // alice's feed reaches #21
	}
	e.failing(bob) // bob's reaches #3
	e.waitFeed(alice, 21)
	e.waitFeed(bob, 3)

	s := openSSE(t, e, sseDial{token: e.token(bob), lastID: "15"})
	defer s.drain()
	w := openWS(t, e, wsDial{token: e.token(bob), after: "15"})
	defer w.drain()
	for name, c := range map[string]*conn{"sse": s, "websocket": w} {
		got := c.collect(t, 1)[0]
		// Bob's own feed continues after #3, his live end.
		if got.Event != "resync" || got.ID != 3 {
			t.Errorf("%s: first message %v, want resync #3", name, got)
		}
	}
	want := e.failing(bob)
	assertWire(t, s.collect(t, len(want)), want, 4)
	assertWire(t, w.collect(t, len(want)), want, 4)
}

// strangerToken is a well-formed access token signed with another secret.
func strangerToken(t *testing.T, user string) string {
	t.Helper()
	other := newEnvIssuer(randomBytes(32))
	tok, _, err := other.Issue(auth.Access, user, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSocketIO_AnswersConfiguredOriginsWithCORSAndRefusesOthers(t *testing.T) {
	e := newEnv(t, envConfig{})
	handshake := func(origin string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, e.url+"/socket.io/?EIO=4&transport=polling", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := handshake(allowedOrigin); resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Access-Control-Allow-Origin") != allowedOrigin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("configured origin: %d %v, want 200 with CORS headers for it", resp.StatusCode, resp.Header)
	}
	if resp := handshake("http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %d, want 403", resp.StatusCode)
	}
}
