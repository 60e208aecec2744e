package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
)

// The PWA creates its socket once, with the access token it had then, and
// socket.io-client never retries a refused CONNECT. A user whose access token expired
// while they watched a scan must still see it finish across a server restart: the
// reconnect presents the expired token of a live login session and is recovered with
// exactly the events it missed. Once the session is revoked (a password change), the
// same reconnect is refused.
func TestSocketIOKeepsLiveUpdatesAcrossAnExpiredTokenAndARestart(t *testing.T) {
	srv := startHeld(t, "SCANLEDGER_WORKER_LEASE=2s", "SCANLEDGER_ACCESS_TTL=1s")

	pwa := &pwaClient{t: t, srv: srv.server}
	email := fmt.Sprintf("grace.%d@example.com", time.Now().UnixNano())
	signed := pwa.auth("/auth/signup", fmt.Sprintf(`{"email":%q,"password":"secret1","firstName":"Grace","lastName":"Hopper"}`, email))
	sock := startPWASocket(t, srv.base, signed.AccessToken)
	sock.WaitFor("connect", sioWait, func(o socketiotest.Observation) bool { return o.Ev == "connect" })

	var created struct{ ScanID string }
	pwa.ok("POST", "/scans", `{}`, http.StatusCreated, &created)
	scanPath := "/api/v1/scans/" + created.ScanID
	if r := srv.upload(scanPath+"/images", srv.token(signed.User.ID, "user"), photos(t), nil); r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	pwa.ok("POST", "/scans/"+created.ScanID+"/process", `{}`, http.StatusCreated, nil)
	deadline := time.Now().Add(60 * time.Second)
	for srv.agents.Calls() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the analysis never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sock.WaitFor("the analysis progress event", sioWait, func(o socketiotest.Observation) bool {
		return o.Ev == "event" && o.Event == "scan:progress"
	})

	// Wait until the socket's token is refused by the API, then crash the server.
	for srv.json("GET", "/api/v1/users/me", signed.AccessToken, "").Status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the access token never expired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	srv.kill()
	srv.agents.SetBehaviours(agentstest.Succeed())
	// The client keeps its URL: the server comes back where it was.
	srv2 := srv.restart()

	re := sock.WaitFor("the reconnect", sioWait, connectOrRefusal)
	if re.Ev != "connect" || !re.Recovered {
		t.Fatalf("reconnect with the expired token of a live session: %s, want a recovered connect", re)
	}
	sock.WaitFor("scan:completed", sioWait, func(o socketiotest.Observation) bool { return o.Ev == "event" && o.Event == "scan:completed" })

	// Every offset from the first to the last arrives exactly once, in order.
	var ids []int64
	for _, o := range sock.Seen() {
		if o.Ev != "event" {
			continue
		}
		var offset string
		if len(o.Args) != 2 || json.Unmarshal(o.Args[1], &offset) != nil {
			t.Fatalf("event without an offset: %s", o)
		}
		id, err := strconv.ParseInt(offset, 10, 64)
		if err != nil {
			t.Fatalf("offset %q", offset)
		}
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("offsets not contiguous across the restart: %v", ids)
		}
	}

	// A password change ends every session: the next reconnect is refused.
	pwa2 := &pwaClient{t: t, srv: srv2}
	pwa2.auth("/auth/login", fmt.Sprintf(`{"email":%q,"password":"secret1"}`, email))

	// A paid analysis ran: the page's cost tile gets its figures (after the built-in
	// analyzer costSummary is null, see TestPWAContract).
	var got struct {
		Summary struct {
			CostSummary struct {
				Costs struct {
					TotalEstimatedUSD *float64 `json:"total_estimated_usd"`
				} `json:"costs"`
			} `json:"costSummary"`
		} `json:"summary"`
	}
	pwa2.ok("GET", "/scans/"+created.ScanID, "", http.StatusOK, &got)
	if got.Summary.CostSummary.Costs.TotalEstimatedUSD == nil {
		t.Fatal("costSummary.costs.total_estimated_usd missing after a paid analysis")
	}
	pwa2.ok("PATCH", "/users/me", `{"password":"secret2"}`, http.StatusOK, nil)
	srv2.stop()
	srv.restart()
	if o := sock.WaitFor("the refusal", sioWait, connectOrRefusal); o.Ev != "connect_error" || o.Message != "Token expired" {
		t.Fatalf("reconnect of a revoked session: %s, want connect_error Token expired", o)
	}
}

// sioWait bounds each wait for the socket.io client, restarts included.
const sioWait = 90 * time.Second

// connectOrRefusal matches the server's answer to a CONNECT: a connect, or a
// connect_error the server sent (not the client's own "xhr poll error" while the
// server is down, after which it keeps retrying).
func connectOrRefusal(o socketiotest.Observation) bool {
	switch {
	case o.Ev == "connect":
		return true
	case o.Ev != "connect_error":
		return false
	}
	switch o.Message {
	case "Unauthorized", "Token expired", "Service unavailable":
		return true
	}
	return false
}

// startPWASocket runs the PWA's socket.io-client against the server, with tok.
func startPWASocket(t *testing.T, base, tok string) *socketiotest.Client {
	t.Helper()
	return socketiotest.Start(t, socketiotest.Options{URL: base, Namespace: "/scans", Token: tok})
}
