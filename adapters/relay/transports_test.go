package relay_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
	"github.com/scanledger/scanledger/domain"
)

// The contract's five events, with their exact payloads, reach a client of every
// transport, each carrying the user's feed sequence as its id.

func TestSSE_DeliversTheContractEventsWithFeedSequenceIDs(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	c := openSSE(t, e, sseDial{token: e.token(user)})
	defer c.drain()
	if got := c.header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type %q, want text/event-stream", got)
	}
	if got := c.header.Get("X-Accel-Buffering"); got != "no" {
		t.Errorf("X-Accel-Buffering %q, want no: proxies would buffer the stream", got)
	}
	want := append(e.lifecycle(user), e.failing(user)...)
	assertWire(t, c.collect(t, len(want)), want, 1)
}

// The access token comes in the bearer subprotocol, or as a query parameter.
func TestWebSocket_DeliversTheContractEventsAsJSONFrames(t *testing.T) {
	for _, tc := range []struct {
		name        string
		inQuery     bool
		subprotocol string
		why         string
	}{
		{"token in the bearer subprotocol", false, "bearer", "want the server to echo bearer"},
		{"token as a query parameter", true, "", "want none when the client offered none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			user := domain.NewID()
			c, ws, err := dialWS(e, wsDial{token: e.token(user), inQuery: tc.inQuery})
			if err != nil {
				t.Fatal(err)
			}
			defer c.drain()
			if got := ws.Subprotocol(); got != tc.subprotocol {
				t.Errorf("subprotocol %q, %s", got, tc.why)
			}
			want := append(e.lifecycle(user), e.failing(user)...)
			assertWire(t, c.collect(t, len(want)), want, 1)
		})
	}
}

func TestSocketIO_DefaultTransportsUpgradeAndDeliverTheContractEventsWithOffsets(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	c := startSocketIO(t, e, socketiotest.Options{Token: e.token(user)})
	if o := c.waitFor("open", socketiotest.IsEv("open")); o.Transport != "polling" {
		t.Fatalf("opened on %q, want polling first as the PWA's default transports do", o.Transport)
	}
	if o := c.waitFor("connect", socketiotest.IsEv("connect")); o.Recovered || o.PID == "" {
		t.Fatalf("first connection: %v, want a pid and recovered false", o)
	}
	// The upgrade may come before or after the CONNECT ack.
	upgraded := func(o observation) bool { return o.Ev == "upgrade" && o.Transport == "websocket" }
	if !c.Saw(upgraded) {
		c.waitFor("upgrade to websocket", upgraded)
	}
	want := append(e.lifecycle(user), e.failing(user)...)
	assertWire(t, c.events(len(want)), want, 1)
}

func TestSocketIO_WebSocketOnlyDeliversTheContractEvents(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	c := startSocketIO(t, e, socketiotest.Options{Token: e.token(user), Transports: []string{"websocket"}})
	if o := c.waitFor("connect", socketiotest.IsEv("connect")); o.Transport != "websocket" {
		t.Fatalf("connected on %q, want websocket", o.Transport)
	}
	want := e.lifecycle(user)
	assertWire(t, c.events(len(want)), want, 1)
}

func TestEveryTransport_NarrowsToOneScanWithScanID(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	watched := e.newScan(user)
	other := e.newScan(user)
	s := openSSE(t, e, sseDial{token: e.token(user), query: "?scanId=" + watched.id})
	defer s.drain()
	w := openWS(t, e, wsDial{token: e.token(user), scanID: watched.id})
	defer w.drain()

	other.upload()
	up := watched.upload()
	other.process()
	proc := watched.process()
	for name, c := range map[string]*conn{"sse": s, "websocket": w} {
		got := c.collect(t, 2)
		// Ids stay the user's feed sequence, so a resuming client skips nothing.
		if got[0].ID != 2 || got[0].Event != up.Event || got[1].ID != 4 || got[1].Event != proc.Event {
			t.Errorf("%s: got %v, want the watched scan's messages #2 and #4", name, got)
		}
	}
}

func TestEveryTransport_ReceivesOnlyItsOwnUsersEvents(t *testing.T) {
	e := newEnv(t, envConfig{})
	users := []string{domain.NewID(), domain.NewID()}
	type clients struct {
		sse, ws *conn
		sio     *nodeClient
	}
	cs := map[string]clients{}
	for _, u := range users {
		s := openSSE(t, e, sseDial{token: e.token(u)})
		defer s.drain()
		w := openWS(t, e, wsDial{token: e.token(u)})
		defer w.drain()
		n := startSocketIO(t, e, socketiotest.Options{Token: e.token(u)})
		n.waitFor("connect", socketiotest.IsEv("connect"))
		cs[u] = clients{s, w, n}
	}
	want := map[string][]wire{}
	for range 2 {
		for _, u := range users {
			want[u] = append(want[u], e.lifecycle(u)...)
		}
	}
	for _, u := range users {
		c := cs[u]
		assertWire(t, c.sse.collect(t, len(want[u])), want[u], 1)
		assertWire(t, c.ws.collect(t, len(want[u])), want[u], 1)
		assertWire(t, c.sio.events(len(want[u])), want[u], 1)
	}
	// Nothing of the other user follows.
	for _, u := range users {
		c := cs[u]
		if extra := append(c.sse.quiet(200*time.Millisecond), c.ws.quiet(200*time.Millisecond)...); len(extra) > 0 {
			t.Errorf("user %s got more than their own feed: %v", u, extra)
		}
		for _, o := range c.sio.Quiet(200 * time.Millisecond) {
			if o.Ev == "event" {
				t.Errorf("user %s got more than their own feed: %v", u, o)
			}
		}
	}
}

func TestHeartbeats_KeepIdleConnectionsAliveOnEveryTransport(t *testing.T) {
	e := newEnv(t, envConfig{heartbeat: 50 * time.Millisecond})
	user := domain.NewID()

	// SSE: comment frames, which EventSource ignores.
	resp, err := rawSSE(e, e.token(user))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readUntil(t, resp.Body, ": heartbeat\n")

	// WebSocket: ping frames, answered by the browser itself.
	w := openWS(t, e, wsDial{token: e.token(user)})
	defer w.drain()
	eventually(t, 10*time.Second, "a websocket ping", func() bool { return w.pings.Load() >= 2 })

	// Socket.IO: Engine.IO pings at the configured interval.
	n := startSocketIO(t, e, socketiotest.Options{Token: e.token(user), Transports: []string{"websocket"}})
	n.waitFor("connect", socketiotest.IsEv("connect"))
	n.waitFor("a ping", socketiotest.IsEv("ping"))
	n.waitFor("another ping", socketiotest.IsEv("ping"))

	// Still delivering afterwards.
	want := e.failing(user)
	assertWire(t, w.collect(t, len(want)), want, 1)
	assertWire(t, n.events(len(want)), want, 1)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestEveryTransport_AClientThatLeavesEndsItsSubscription(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	s := openSSE(t, e, sseDial{token: e.token(user)})
	w := openWS(t, e, wsDial{token: e.token(user)})
	n := startSocketIO(t, e, socketiotest.Options{Token: e.token(user)})
	n.waitFor("connect", socketiotest.IsEv("connect"))
	if got := e.hub.Subscribers(); got != 3 {
		t.Fatalf("%d subscriptions, want 3", got)
	}
	s.drain()
	w.drain()
	n.Command("offline")
	eventually(t, guard, "every subscription to end", func() bool { return e.hub.Subscribers() == 0 })
}

func TestEveryTransport_AStoppingHubEndsItsStreamsSoClientsResumeElsewhere(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	s := openSSE(t, e, sseDial{token: e.token(user)})
	w := openWS(t, e, wsDial{token: e.token(user)})
	n := startSocketIO(t, e, socketiotest.Options{Token: e.token(user), Transports: []string{"websocket"}})
	n.waitFor("connect", socketiotest.IsEv("connect"))

	e.stopPipeline()
	if err := s.waitEnd(t); err != nil {
		t.Logf("sse ended with %v", err)
	}
	if code := websocket.CloseStatus(w.waitEnd(t)); code != websocket.StatusGoingAway {
		t.Errorf("websocket closed with %d, want 1001 going away", code)
	}
	// A transport close, not a namespace disconnect: socket.io-client reconnects.
	if o := n.waitFor("disconnect", socketiotest.IsEv("disconnect")); o.Reason != "transport close" {
		t.Errorf("socket.io disconnect reason %q, want transport close", o.Reason)
	}
}
