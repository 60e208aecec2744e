package socketio_test

import (
	"slices"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/socketio"
	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
	"github.com/scanledger/scanledger/internal/await"
)

// These tests drive socket.io-client 4.8.1 (engine.io-client 6.6.3), the PWA's
// versions, from node: see socketiotest/testdata/client.js.

const wait = 10 * time.Second

func TestDefaultTransportsStartOnPollingUpgradeToWebSocketAndDeliverEventsInOrder(t *testing.T) {
	rl := newRelay(64)
	_, ts := startServer(t, rl, &socketio.Server{})
	c := startClient(t, ts, socketiotest.Options{Token: "good-A"})

	if o := c.WaitFor("open", wait, socketiotest.IsEv("open")); o.Transport != "polling" {
		t.Fatalf("opened on %q, want polling first", o.Transport)
	}
	c.WaitFor("connect", wait, socketiotest.IsEv("connect"))
	// A burst right away crosses the upgrade: some go by polling, some by WebSocket.
	sent := publishAll(rl, "A", scanEvents("s1"))
	got := c.Events(len(sent), wait)
	c.SawOrWait("upgrade", wait, socketiotest.IsEv("upgrade"))
	sent2 := publishAll(rl, "A", scanEvents("s2"))
	got2 := c.Events(len(sent2), wait)

	assertDelivered(t, append(got, got2...), append(sent, sent2...))
	for _, o := range got2 {
		if o.Transport != "websocket" {
			t.Errorf("event %s after the upgrade arrived on %q", o.Event, o.Transport)
		}
	}
	if c.Saw(socketiotest.IsEv("disconnect")) {
		t.Error("client disconnected")
	}
}

func TestWebSocketOnlyTransportConnectsAndDeliversWithoutPolling(t *testing.T) {
	rl := newRelay(64)
	_, ts := startServer(t, rl, &socketio.Server{})
	c := startClient(t, ts, socketiotest.Options{Token: "good-A", Transports: []string{"websocket"}})

	c.WaitFor("connect", wait, socketiotest.IsEv("connect"))
	sent := publishAll(rl, "A", scanEvents("s1"))
	got := c.Events(len(sent), wait)

	assertDelivered(t, got, sent)
	for _, o := range c.Seen() {
		if o.Transport != "" && o.Transport != "websocket" {
			t.Errorf("%s observed on %q", o.Ev, o.Transport)
		}
	}
}

func TestPollingOnlyTransportDeliversBatchesSplitByMaxPayload(t *testing.T) {
	rl := newRelay(256)
	// A small MaxPayload makes the server split its queue over several poll responses.
	_, ts := startServer(t, rl, &socketio.Server{MaxPayload: 1024})
	c := startClient(t, ts, socketiotest.Options{Token: "good-A", Transports: []string{"polling"}})

	c.WaitFor("connect", wait, socketiotest.IsEv("connect"))
	var sent []socketio.Message
	for range 10 {
		sent = append(sent, publishAll(rl, "A", scanEvents("s1"))...)
	}
	got := c.Events(len(sent), wait)

	assertDelivered(t, got, sent)
	for _, o := range c.Seen() {
		if o.Ev == "upgrade" || (o.Transport != "" && o.Transport != "polling") {
			t.Fatalf("left polling: %+v", o)
		}
	}
}

func TestBadTokenGetsConnectErrorWithTheMessageAndNoEvents(t *testing.T) {
	rl := newRelay(64)
	srv, ts := startServer(t, rl, &socketio.Server{})
	c := startClient(t, ts, socketiotest.Options{Token: "forged"})

	o := c.WaitFor("connect_error", wait, func(o socketiotest.Observation) bool { return o.Ev == "connect_error" || o.Ev == "connect" })
	if o.Ev != "connect_error" || o.Message != "invalid token" {
		t.Fatalf("got %+v, want connect_error \"invalid token\"", o)
	}
	// Valid users' traffic must not reach it.
	publishAll(rl, "A", scanEvents("s1"))
	for _, o := range c.Quiet(500 * time.Millisecond) {
		if o.Ev == "event" || o.Ev == "connect" {
			t.Fatalf("refused client observed %+v", o)
		}
	}
	if calls := rl.connectCalls(); len(calls) != 1 || calls[0].Token != "forged" {
		t.Errorf("Connect calls: %+v, want one with the forged token", calls)
	}
	if st := srv.Stats(); st.Sockets != 0 {
		t.Errorf("stats %+v, want no socket", st)
	}
	// socket.io-client closes the Engine.IO connection once its only socket is refused.
	await.Until(t, wait, "the refused client's session to close", func() bool { return srv.Stats().Sessions == 0 })
}

func TestClientRecoversExactlyTheMissedEventsAfterTheRelayDropsIt(t *testing.T) {
	rl := newRelay(64)
	srv, ts := startServer(t, rl, &socketio.Server{})
	c := startClient(t, ts, socketiotest.Options{Token: "good-A"})

	if o := c.WaitFor("connect", wait, socketiotest.IsEv("connect")); o.Recovered {
		t.Fatal("first connection reported as recovered")
	}
	c.SawOrWait("upgrade", wait, socketiotest.IsEv("upgrade"))
	evs := scanEvents("s1")
	before := publishAll(rl, "A", evs[:3])
	assertDelivered(t, c.Events(len(before), wait), before)

	// The relay drops the socket; these events are committed while it is away.
	missed := rl.dropAll("A", evs[3:6]...)

	if o := c.WaitFor("disconnect", wait, socketiotest.IsEv("disconnect")); o.Reason != "transport close" {
		t.Fatalf("disconnect reason %q, want transport close (the client must reconnect by itself)", o.Reason)
	}
	if o := c.WaitFor("reconnect", wait, socketiotest.IsEv("connect")); !o.Recovered {
		t.Fatalf("reconnected with socket.recovered = false: %+v", o)
	}
	assertDelivered(t, c.Events(len(missed), wait), missed)

	calls := rl.connectCalls()
	if len(calls) != 2 {
		t.Fatalf("Connect calls: %+v, want 2", calls)
	}
	first, second := calls[0], calls[1]
	if second.Token != "good-A" || second.PID == "" || second.Offset != before[len(before)-1].ID || !second.Recovered {
		t.Errorf("reconnect auth: %+v, want token, the first pid and offset %q", second, before[len(before)-1].ID)
	}
	if first.PID != "" {
		t.Errorf("first connect sent pid %q", first.PID)
	}

	// Live events continue after the recovered ones, and nothing is delivered twice.
	after := publishAll(rl, "A", evs[6:])
	assertDelivered(t, c.Events(len(after), wait), after)
	if extra := c.Quiet(300 * time.Millisecond); slices.ContainsFunc(extra, socketiotest.IsEv("event")) {
		t.Errorf("unexpected extra events: %+v", extra)
	}
	if st := srv.Stats(); st.Sessions != 1 || st.Sockets != 1 {
		t.Errorf("stats %+v, want the one reconnected session", st)
	}
}

func TestIdleConnectionStaysUpAcrossSeveralPingIntervals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		transports []string
	}{
		{"websocket after upgrade", nil},
		{"polling", []string{"polling"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rl := newRelay(64)
			// Short intervals make many heartbeats; the timeout is generous because it
			// is not what is tested here and a loaded machine can take well over 200ms
			// to answer a ping (engine.io-client holds its pong until an upgrade ends).
			// A server that ignored pongs would still stop pinging after the first.
			_, ts := startServer(t, rl, &socketio.Server{PingInterval: 100 * time.Millisecond, PingTimeout: 5 * time.Second})
			c := startClient(t, ts, socketiotest.Options{Token: "good-A", Transports: tc.transports})

			c.WaitFor("connect", wait, socketiotest.IsEv("connect"))
			if tc.transports == nil {
				c.SawOrWait("upgrade", wait, socketiotest.IsEv("upgrade"))
			}
			pings := 0
			c.WaitFor("8 heartbeats while idle", wait, func(o socketiotest.Observation) bool {
				switch o.Ev {
				case "ping":
					pings++
				case "disconnect", "connect", "open":
					t.Fatalf("connection did not stay up while idle, after %d pings: %s", pings, o)
				}
				return pings == 8
			})
			sent := publishAll(rl, "A", scanEvents("s1")[:1])
			assertDelivered(t, c.Events(1, wait), sent)
		})
	}
}

func TestClientThatStopsAnsweringPingsIsClosedByPingTimeout(t *testing.T) {
	for _, transports := range [][]string{{"websocket"}, {"polling"}} {
		t.Run(transports[0], func(t *testing.T) {
			rl := newRelay(64)
			// The timeout leaves a loaded machine time to connect and answer pings
			// before the client is told to stop. The server's close beats the client's
			// own timeout (pingInterval+pingTimeout after the last ping it got) by
			// about pingInterval, so that must dwarf the delivery of a ping too.
			cfg := &socketio.Server{PingInterval: time.Second, PingTimeout: 2 * time.Second}
			srv, ts := startServer(t, rl, cfg)
			c := startClient(t, ts, socketiotest.Options{Token: "good-A", Transports: transports, NoReconnection: true})

			c.WaitFor("connect", wait, socketiotest.IsEv("connect"))
			c.WaitFor("a ping", wait, socketiotest.IsEv("ping"))
			c.Command("stop-pong")
			c.WaitFor("pongs-stopped", wait, socketiotest.IsEv("pongs-stopped"))
			stopped := time.Now()

			if o := c.WaitFor("disconnect", wait, socketiotest.IsEv("disconnect")); o.Reason != "transport close" {
				t.Errorf("disconnect reason %q, want transport close", o.Reason)
			}
			// The client itself would give up only after pingInterval+pingTimeout without a
			// ping; the server's timeout comes first because pings keep arriving. The
			// server closes at most pingInterval+pingTimeout after the last pong; the
			// second on top is for the client to see it on a loaded machine.
			if took, bound := time.Since(stopped), cfg.PingInterval+cfg.PingTimeout+time.Second; took > bound {
				t.Errorf("closed %v after pongs stopped, want within %v", took, bound)
			}
			await.Until(t, wait, "the session to close", func() bool { return srv.Stats() == socketio.Stats{} })
			await.Until(t, wait, "Connect's context to end", func() bool { return rl.subscribers("A") == 0 })
		})
	}
}
