package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/scanledger/scanledger/adapters/socketio"
	"github.com/scanledger/scanledger/domain/origin"
	"github.com/scanledger/scanledger/internal/await"
)

// Raw Engine.IO/Socket.IO exchanges against the server, frame by frame.

func TestPollingHandshakeAnnouncesSidWebSocketUpgradeAndDefaultHeartbeat(t *testing.T) {
	_, ts := startServer(t, newRelay(8), &socketio.Server{})
	status, body, header := do(t, http.MethodGet, engineURL(ts, "polling", ""), "", nil)
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/plain") {
		t.Fatalf("handshake: %d %s %v", status, body, header)
	}
	op := parseOpen(t, body)
	want := openPacket{SID: op.SID, Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1000000}
	if !slices.Equal(op.Upgrades, want.Upgrades) || op.PingInterval != want.PingInterval || op.PingTimeout != want.PingTimeout || op.MaxPayload != want.MaxPayload {
		t.Errorf("open packet %+v, want %+v", op, want)
	}
}

func TestWebSocketWithoutSidOpensASessionWithNoUpgrades(t *testing.T) {
	srv, ts := startServer(t, newRelay(8), &socketio.Server{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dialWS(ctx, wsURL(ts, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	frame, err := readText(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if op := parseOpen(t, frame); op.Upgrades == nil || len(op.Upgrades) != 0 {
		t.Errorf("upgrades %v, want []", op.Upgrades)
	}
	if st := srv.Stats(); st.Sessions != 1 || st.Sockets != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMalformedEngineRequestsGetEngineIOErrorCodes(t *testing.T) {
	_, ts := startServer(t, newRelay(8), &socketio.Server{})
	sid := handshakePolling(t, ts).SID
	base := ts.URL + "/socket.io/?"
	for _, tc := range []struct {
		name, method, url string
		status            int
		body              string
	}{
		{"old protocol", http.MethodGet, base + "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"unknown transport", http.MethodGet, base + "EIO=4&transport=flashsocket", 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown session", http.MethodGet, base + "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"handshake by POST", http.MethodPost, base + "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT to a session", http.MethodPut, base + "EIO=4&transport=polling&sid=" + sid, 400, `{"code":3,"message":"Bad request"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, tc.method, tc.url, "", nil)
			if status != tc.status || body != tc.body {
				t.Errorf("got %d %s, want %d %s", status, body, tc.status, tc.body)
			}
		})
	}
}

func TestPollingSessionConnectsToTheNamespaceAndReceivesEventsWithOffsets(t *testing.T) {
	rl := newRelay(8)
	srv, ts := startServer(t, rl, &socketio.Server{})
	sid := handshakePolling(t, ts).SID

	if status, body := post(t, ts, sid, `40/scans,{"token":"good-A"}`); status != 200 || body != "ok" {
		t.Fatalf("post CONNECT: %d %s", status, body)
	}
	packets := pollUntil(t, ts, sid, "40/scans,")
	var ack struct{ SID, PID string }
	if len(packets) != 1 || json.Unmarshal([]byte(strings.TrimPrefix(packets[0], "40/scans,")), &ack) != nil || ack.SID == "" || ack.PID == "" {
		t.Fatalf("CONNECT ack: %q", packets)
	}
	if st := srv.Stats(); st != (socketio.Stats{Sessions: 1, Sockets: 1}) {
		t.Errorf("stats %+v", st)
	}

	rl.publish("A", "scan:progress", `{"scanId":"s1","progress":10,"stage":"Preparing request"}`)
	rl.publish("A", "scan:failed", `{"scanId":"s1","error":"Python agents service unavailable"}`)
	got := pollUntil(t, ts, sid, `"2"]`)
	want := []string{
		`42/scans,["scan:progress",{"scanId":"s1","progress":10,"stage":"Preparing request"},"1"]`,
		`42/scans,["scan:failed",{"scanId":"s1","error":"Python agents service unavailable"},"2"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("polled %q, want %q", got, want)
	}
}

func TestConnectToTheDefaultOrAnUnknownNamespaceIsRefused(t *testing.T) {
	rl := newRelay(8)
	_, ts := startServer(t, rl, &socketio.Server{})
	sid := handshakePolling(t, ts).SID
	post(t, ts, sid, "40\x1e40/admin,{}")
	got := pollUntil(t, ts, sid, "44/admin,")
	want := []string{`44{"message":"Invalid namespace"}`, `44/admin,{"message":"Invalid namespace"}`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if calls := rl.connectCalls(); len(calls) != 0 {
		t.Errorf("Connect called for a refused namespace: %+v", calls)
	}
}

func TestConnectErrorCarriesConnectsErrorMessage(t *testing.T) {
	_, ts := startServer(t, newRelay(8), &socketio.Server{})
	sid := handshakePolling(t, ts).SID
	post(t, ts, sid, `40/scans,{"token":"stolen"}`)
	if got := pollUntil(t, ts, sid, "44/scans,"); !slices.Equal(got, []string{`44/scans,{"message":"invalid token"}`}) {
		t.Errorf("got %q", got)
	}
}

func TestSecondPendingPollIsRejectedAndClosesTheSession(t *testing.T) {
	srv, ts := startServer(t, newRelay(8), &socketio.Server{})
	sid := handshakePolling(t, ts).SID
	first := startPoll(t, ts, sid)
	// The first poll has nothing to return, so it stays pending.
	time.Sleep(100 * time.Millisecond)
	if status, body := poll(t, ts, sid); status != http.StatusBadRequest {
		t.Fatalf("second poll: %d %s, want 400", status, body)
	}
	if body := first(); body != "1" {
		t.Errorf("first poll answered %q, want the close packet", body)
	}
	if status, _ := poll(t, ts, sid); status != http.StatusBadRequest {
		t.Errorf("session still open after overlap")
	}
	if srv.Stats().Sessions != 0 {
		t.Errorf("stats %+v", srv.Stats())
	}
}

func TestProtocolViolationsInAPostAreRejectedAndCloseTheSession(t *testing.T) {
	_, ts := startServer(t, newRelay(8), &socketio.Server{})
	for _, tc := range []struct{ name, payload string }{
		{"empty payload", ""},
		{"empty packet", "3\x1e"},
		{"unknown engine type", "9"},
		{"base64 binary packet", "bAQID"},
		{"ping from the client", "2"},
		{"open from the client", "0"},
		{"unknown socket.io type", "49"},
		{"binary event", `451-/scans,["upload",{"_placeholder":true,"num":0}]`},
		{"binary ack", `461-/scans,0[{"_placeholder":true,"num":0}]`},
		{"CONNECT with an array", `40/scans,["token"]`},
		{"EVENT with a reserved name", `42/scans,["disconnect"]`},
		{"invalid JSON", `42/scans,["a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sid := handshakePolling(t, ts).SID
			if status, body := post(t, ts, sid, tc.payload); status != http.StatusBadRequest {
				t.Fatalf("post %q: %d %s, want 400", tc.payload, status, body)
			}
			if status, body := poll(t, ts, sid); status != http.StatusBadRequest || !strings.Contains(body, `"code":1`) {
				t.Errorf("after the violation: %d %s, want session unknown", status, body)
			}
		})
	}
}

func TestClientEventsAndAcksAreIgnored(t *testing.T) {
	rl := newRelay(8)
	srv, ts := startServer(t, rl, &socketio.Server{})
	sid := connectPolling(t, ts, "good-A")
	if status, body := post(t, ts, sid, `42/scans,["hello",{"x":1}]`+"\x1e"+`42/scans,7["withAck"]`+"\x1e"+`43/scans,3[]`); status != 200 {
		t.Fatalf("post: %d %s", status, body)
	}
	if st := srv.Stats(); st != (socketio.Stats{Sessions: 1, Sockets: 1}) {
		t.Errorf("stats %+v", st)
	}
}

func TestPostLargerThanMaxPayloadIsRefused(t *testing.T) {
	_, ts := startServer(t, newRelay(8), &socketio.Server{MaxPayload: 100})
	sid := handshakePolling(t, ts).SID
	if status, _ := post(t, ts, sid, `42/scans,["x","`+strings.Repeat("a", 200)+`"]`); status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", status)
	}
}

func TestUpgradeProbeReturnsThePendingPollAsNoopAndMovesTheQueueToWebSocket(t *testing.T) {
	rl := newRelay(8)
	srv, ts := startServer(t, rl, &socketio.Server{})
	sid := connectPolling(t, ts, "good-A")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn := probeUpgrade(t, ctx, ts, sid)

	// Events between the probe and the upgrade wait in the queue for the WebSocket.
	sent := publishAll(rl, "A", scanEvents("s1")[:3])
	upgradeDelivers(t, ctx, conn, sent, "")
	if status, body := poll(t, ts, sid); status != http.StatusBadRequest || !strings.Contains(body, `"code":3`) {
		t.Errorf("poll after upgrade: %d %s, want bad request", status, body)
	}
	if status, _ := post(t, ts, sid, "3"); status != http.StatusBadRequest {
		t.Errorf("post after upgrade: %d, want bad request", status)
	}
	if st := srv.Stats(); st != (socketio.Stats{Sessions: 1, Sockets: 1}) {
		t.Errorf("stats %+v", st)
	}
}

func TestCrossOriginRequestsNeedAnAllowedOrigin(t *testing.T) {
	const allowed = "http://localhost:5173"
	_, ts := startServer(t, newRelay(8), &socketio.Server{Origins: []string{allowed}})

	t.Run("allowed origin gets credentials CORS", func(t *testing.T) {
		status, _, h := do(t, http.MethodGet, engineURL(ts, "polling", ""), "", http.Header{"Origin": {allowed}})
		if status != 200 || h.Get("Access-Control-Allow-Origin") != allowed || h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Vary") != "Origin" {
			t.Errorf("%d %v", status, h)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		status, _, h := do(t, http.MethodOptions, engineURL(ts, "polling", ""), "", http.Header{
			"Origin": {allowed}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type"},
		})
		if status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != allowed ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Allow-Headers") != "content-type" {
			t.Errorf("%d %v", status, h)
		}
	})
	t.Run("other origin is forbidden", func(t *testing.T) {
		status, body, h := do(t, http.MethodGet, engineURL(ts, "polling", ""), "", http.Header{"Origin": {"https://evil.example"}})
		if status != http.StatusForbidden || h.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(body, `"code":4`) {
			t.Errorf("%d %s %v", status, body, h)
		}
	})
	t.Run("same origin needs no CORS", func(t *testing.T) {
		status, _, h := do(t, http.MethodGet, engineURL(ts, "polling", ""), "", http.Header{"Origin": {ts.URL}})
		if status != 200 || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%d %v", status, h)
		}
	})
	t.Run("websocket from another origin is forbidden", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, resp, err := websocket.Dial(ctx, wsURL(ts, ""), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("dial: %v %v", resp, err)
		}
	})
}

// Socket.IO answers origins by the rule REST CORS, SSE and WebSocket use (domain/origin):
// a page of the host it connects to is served whatever the letter case, and "null" (a
// sandboxed or file page) only where the list says "*".
func TestOriginsFollowTheOneRuleOfEveryTransport(t *testing.T) {
	const host = "api.example:8080"
	for _, list := range [][]string{nil, {"*"}, {"https://app.example/"}} {
		policy := origin.New(list)
		srv := startHandler(t, &socketio.Server{Origins: list})
		for _, o := range []string{"", "null", "http://api.example:8080", "http://API.Example:8080", "https://app.example", "https://APP.example", "https://evil.example"} {
			req := httptest.NewRequest(http.MethodOptions, "http://"+host+"/socket.io/?EIO=4&transport=polling", nil)
			if o != "" {
				req.Header.Set("Origin", o)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			served, want := rec.Code != http.StatusForbidden, policy.AllowsConnection(o, host)
			if served != want {
				t.Errorf("origins %q, Origin %q: served %v (%d), want %v", list, o, served, rec.Code, want)
			}
		}
	}
}

func TestSilentWebSocketClientIsClosedByPingTimeout(t *testing.T) {
	rl := newRelay(8)
	srv, ts := startServer(t, rl, &socketio.Server{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	conn := mustConnectWS(t, ts, "good-A")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if frame, err := readText(ctx, conn); err != nil || frame != "2" {
		t.Fatalf("got %q (%v), want a ping", frame, err)
	}
	start := time.Now()
	_, err := readText(ctx, conn)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Errorf("closed %v after the ping, before the ping timeout", took)
	}
	await.Until(t, wait, "the session to close", func() bool { return srv.Stats() == socketio.Stats{} })
	await.Until(t, wait, "Connect's context to end", func() bool { return rl.subscribers("A") == 0 })
}

func TestConnectTimeoutClosesASessionThatNeverConnects(t *testing.T) {
	srv, ts := startServer(t, newRelay(8), &socketio.Server{ConnectTimeout: 100 * time.Millisecond})
	sid := handshakePolling(t, ts).SID
	await.Until(t, wait, "the idle session to close", func() bool { return srv.Stats().Sessions == 0 })
	if status, _ := poll(t, ts, sid); status != http.StatusBadRequest {
		t.Errorf("status %d, want 400", status)
	}
}

func TestClientNamespaceDisconnectEndsTheSocketButNotTheSession(t *testing.T) {
	rl := newRelay(8)
	srv, ts := startServer(t, rl, &socketio.Server{})
	conn := mustConnectWS(t, ts, "good-A")
	if err := writeText(context.Background(), conn, "41/scans,"); err != nil {
		t.Fatal(err)
	}
	await.Until(t, wait, "Connect's context to end", func() bool { return rl.subscribers("A") == 0 })
	if st := srv.Stats(); st != (socketio.Stats{Sessions: 1}) {
		t.Errorf("stats %+v, want the session without socket", st)
	}
	// The same connection can connect again.
	if err := writeText(context.Background(), conn, `40/scans,{"token":"good-A"}`); err != nil {
		t.Fatal(err)
	}
	readUntil(t, conn, "40/scans,")
	await.Until(t, wait, "a socket again", func() bool { return srv.Stats() == socketio.Stats{Sessions: 1, Sockets: 1} })
}

func TestRelayDropFlushesQueuedEventsThenClosesTheTransportNotTheNamespace(t *testing.T) {
	t.Run("websocket", func(t *testing.T) {
		rl := newRelay(8)
		srv, ts := startServer(t, rl, &socketio.Server{})
		conn := mustConnectWS(t, ts, "good-A")
		sent := publishAll(rl, "A", scanEvents("s1")[:3])
		rl.dropAll("A")

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var frames []string
		for {
			frame, err := readText(ctx, conn)
			if err != nil {
				if status := websocket.CloseStatus(err); status != websocket.StatusNormalClosure {
					t.Errorf("closed with %v (%v), want a normal close", status, err)
				}
				break
			}
			frames = append(frames, frame)
		}
		if len(frames) != len(sent) || slices.ContainsFunc(frames, func(f string) bool { return strings.HasPrefix(f, "41") }) {
			t.Errorf("frames before close: %q, want the %d events and no DISCONNECT", frames, len(sent))
		}
		await.Until(t, wait, "the session to close", func() bool { return srv.Stats() == socketio.Stats{} })
	})
	t.Run("polling", func(t *testing.T) {
		rl := newRelay(8)
		srv, ts := startServer(t, rl, &socketio.Server{})
		sid := connectPolling(t, ts, "good-A")
		publishAll(rl, "A", scanEvents("s1")[:2])
		rl.dropAll("A")
		await.Until(t, wait, "the drop to be seen", func() bool { return rl.subscribers("A") == 0 })
		got := pollUntil(t, ts, sid, "1")
		if len(got) != 3 || got[2] != "1" || slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, "41") }) {
			t.Errorf("polled %q, want 2 events then the close packet", got)
		}
		await.Until(t, wait, "the session to close", func() bool { return srv.Stats() == socketio.Stats{} })
	})
}

func TestRecoveryEchoesThePreviousPidOnlyWhenRecovered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		grant     socketio.Session
		wantSame  bool
		wantExact string
	}{
		{"recovered echoes the client's pid", socketio.Session{Recovered: true}, true, ""},
		{"recovered ignores another PID", socketio.Session{Recovered: true, PID: "other"}, true, ""},
		{"not recovered never reuses the client's pid", socketio.Session{PID: "old-pid"}, false, ""},
		{"not recovered uses the granted PID", socketio.Session{PID: "granted"}, false, "granted"},
		{"not recovered without PID gets a fresh one", socketio.Session{}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := startServer(t, nil, &socketio.Server{
				Connect: func(ctx context.Context, r *http.Request, auth json.RawMessage) (*socketio.Session, error) {
					g := tc.grant
					return &g, nil
				},
			})
			conn, err := dialWS(context.Background(), wsURL(ts, ""), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			writeText(context.Background(), conn, `40/scans,{"token":"t","pid":"old-pid","offset":"7"}`)
			_, frame := readUntil(t, conn, "40/scans,")
			var ack struct{ SID, PID string }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(frame, "40/scans,")), &ack); err != nil || ack.PID == "" {
				t.Fatalf("ack %q: %v", frame, err)
			}
			if same := ack.PID == "old-pid"; same != tc.wantSame {
				t.Errorf("ack pid %q, client's previous pid old-pid", ack.PID)
			}
			if tc.wantExact != "" && ack.PID != tc.wantExact {
				t.Errorf("ack pid %q, want %q", ack.PID, tc.wantExact)
			}
		})
	}
}

func TestUnsendableMessagesAreSkippedAndLaterOnesDelivered(t *testing.T) {
	rl := newRelay(8)
	_, ts := startServer(t, rl, &socketio.Server{})
	conn := mustConnectWS(t, ts, "good-A")
	rl.publish("A", "connect", `{}`)
	rl.publish("A", "scan:progress", `{not json`)
	ok := rl.publish("A", "scan:processing", ``)
	_, frame := readUntil(t, conn, "42/scans,")
	if want := `42/scans,["scan:processing",null,"` + ok.ID + `"]`; frame != want {
		t.Errorf("got %q, want %q", frame, want)
	}
}

func TestServerCloseEndsEverySessionAndCancelsEverySocket(t *testing.T) {
	rl := newRelay(8)
	srv, ts := startServer(t, rl, &socketio.Server{})
	conn := mustConnectWS(t, ts, "good-A")
	sid := connectPolling(t, ts, "good-B")
	pending := startPoll(t, ts, sid)
	time.Sleep(50 * time.Millisecond)

	srv.Close()
	if body := pending(); body != "1" {
		t.Errorf("pending poll answered %q, want the close packet", body)
	}
	if _, err := readText(context.Background(), conn); err == nil {
		t.Error("websocket still open")
	}
	if st := srv.Stats(); st != (socketio.Stats{}) {
		t.Errorf("left open: %+v", st)
	}
	// The relay hears of the cancellation through context.AfterFunc, asynchronously.
	await.Until(t, wait, "every Connect context to end", func() bool { return rl.subscribers("A")+rl.subscribers("B") == 0 })
	if status, _, _ := do(t, http.MethodGet, engineURL(ts, "polling", ""), "", nil); status != http.StatusServiceUnavailable {
		t.Errorf("handshake after Close: %d, want 503", status)
	}
}

// smallBuffers shrinks the kernel buffers of accepted connections so that a client that
// stops reading stalls the server's writes after kilobytes rather than megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4 << 10)
		tc.SetReadBuffer(4 << 10)
	}
	return c, err
}

func TestStalledClientFillsOnlyItsOwnMessagesChannelAndIsClosed(t *testing.T) {
	rl := newRelay(16)
	srv := &socketio.Server{
		Namespace: "/scans", Connect: rl.Connect, WriteBuffer: 16 << 10,
		PingInterval: 200 * time.Millisecond, PingTimeout: 300 * time.Millisecond,
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(func() { srv.Close(); ts.Close() })

	stalledOpts := &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(4 << 10)
			}
			return c, err
		},
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stalled, err := connectWSWith(ctx, wsURL(ts, ""), "good-S", stalledOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.CloseNow() // and never read
	healthy := mustConnectWS(t, ts, "good-H")

	var (
		mu       sync.Mutex
		received []string
	)
	go func() {
		for {
			frame, err := readText(context.Background(), healthy)
			if err != nil {
				return
			}
			if frame == "2" {
				writeText(context.Background(), healthy, "3")
				continue
			}
			mu.Lock()
			received = append(received, frame)
			mu.Unlock()
		}
	}()

	pad := `{"pad":"` + strings.Repeat("x", 8<<10) + `"}`
	var sentH []socketio.Message
	start := time.Now()
	for i := 0; rl.subscribers("S") > 0; i++ {
		if i == 10_000 {
			t.Fatal("the stalled socket's channel never filled: the server buffers without bound")
		}
		rl.publish("S", "scan:progress", pad)
		sentH = append(sentH, rl.publish("H", "scan:progress", pad))
		// A steady feed, which a reading client keeps up with.
		time.Sleep(time.Millisecond)
	}
	t.Logf("stalled socket dropped by its relay after %d messages, %v", len(sentH), time.Since(start))

	await.Until(t, wait, "the healthy socket to get every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == len(sentH)
	})
	for i, m := range sentH {
		if want := fmt.Sprintf(`42/scans,["scan:progress",%s,%q]`, pad, m.ID); received[i] != want {
			t.Fatalf("healthy message %d out of order", i)
		}
	}
	if rl.subscribers("H") != 1 {
		t.Error("the healthy socket was dropped")
	}
	await.Until(t, wait, "the stalled session to be closed", func() bool { return srv.Stats() == socketio.Stats{Sessions: 1, Sockets: 1} })
}

func TestSessionChurnOnEveryTransportReturnsGoroutinesToBaseline(t *testing.T) {
	rl := newRelay(8)
	// The raw client never answers pings, so a polling session lives PingInterval+
	// PingTimeout from its handshake whatever it does. The sessions that must live through
	// their steps therefore get a first ping later than the test lasts: with a short
	// interval, a stall of the loaded machine between a handshake and its CONNECT closed
	// the session and the POST got "Session ID unknown". PingTimeout stays short: it also
	// bounds a graceful close that no transport flushes. Only the abandoned sessions,
	// which the heartbeat is meant to close, go to a server with a short interval.
	srv, ts := startServer(t, rl, &socketio.Server{PingInterval: time.Minute, PingTimeout: 2 * time.Second})
	beating, beatingTS := startServer(t, rl, &socketio.Server{PingInterval: 100 * time.Millisecond, PingTimeout: 2 * time.Second})
	http.DefaultClient.CloseIdleConnections()
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for i := range 40 {
		user := fmt.Sprint("u", i)
		// WebSocket from the start, closed by the client.
		ws := mustConnectWS(t, ts, "good-"+user)
		ws.Close(websocket.StatusNormalClosure, "")

		// Polling, closed by the client's close packet.
		sid := connectPolling(t, ts, "good-"+user)
		post(t, ts, sid, "1")

		// Polling upgraded to WebSocket, then dropped by the relay.
		sid = connectPolling(t, ts, "good-drop"+user)
		up, err := dialWS(ctx, wsURL(ts, sid), nil)
		if err != nil {
			t.Fatal(err)
		}
		writeText(ctx, up, "2probe")
		readText(ctx, up)
		writeText(ctx, up, "5")
		await.Until(t, wait, "the upgrade", func() bool { return rl.subscribers("drop"+user) == 1 })
		rl.publish("drop"+user, "scan:processing", `{"scanId":"s"}`)
		rl.dropAll("drop" + user)
		for {
			if _, err := readText(ctx, up); err != nil {
				break
			}
		}

		// Polling abandoned mid-connection: the ping timeout closes it.
		sid = handshakePolling(t, beatingTS).SID
		post(t, beatingTS, sid, `40/scans,{"token":"good-gone`+user+`"}`)

		// A refused CONNECT.
		sid = handshakePolling(t, ts).SID
		post(t, ts, sid, `40/scans,{"token":"bad"}`)
		pollUntil(t, ts, sid, "44/scans,")
		post(t, ts, sid, "1")
	}

	await.Until(t, wait, "every session to close", func() bool {
		return srv.Stats() == socketio.Stats{} && beating.Stats() == socketio.Stats{}
	})
	await.Until(t, wait, "every Connect context to end", func() bool {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		for _, subs := range rl.subs {
			if len(subs) > 0 {
				return false
			}
		}
		return true
	})
	http.DefaultClient.CloseIdleConnections()
	settleGoroutines(t, baseline)
}

func TestAServerWithoutConnectRefusesToServe(t *testing.T) {
	srv := &socketio.Server{Namespace: "/scans"}
	// Every request, not only the first: net/http recovers a handler's panic, and the
	// next request must not find a half-started server.
	for i := range 2 {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Connect") {
					t.Errorf("request %d: recovered %v, want a panic naming Connect", i+1, r)
				}
			}()
			srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
		}()
	}
}

// upgradeDelivers completes a probed upgrade (the packet "5") and reads sent from the
// WebSocket, in order, as event frames of the /scans namespace; lost explains a
// missing frame.
func upgradeDelivers(t testing.TB, ctx context.Context, conn *websocket.Conn, sent []socketio.Message, lost string) {
	t.Helper()
	if err := writeText(ctx, conn, "5"); err != nil {
		t.Fatal(err)
	}
	for _, m := range sent {
		want := fmt.Sprintf(`42/scans,[%q,%s,%q]`, m.Event, m.Data, m.ID)
		if frame, err := readText(ctx, conn); err != nil || frame != want {
			t.Fatalf("got %q (%v), want %q%s", frame, err, want, lost)
		}
	}
}
