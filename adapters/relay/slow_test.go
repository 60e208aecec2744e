package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/domain"
)

// A client that stops reading is disconnected (it will reconnect and resume); it never
// holds up anyone else's delivery.

// tinyReceiveBuffer dials with a small socket receive buffer, set before connecting so
// that the advertised window is small too: a client that stops reading then stalls
// the server's writes after a few kilobytes.
func tinyReceiveBuffer() *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
}

// dialSlowWebSocket opens a WebSocket at path for user over a tinyReceiveBuffer
// connection, so that the server's writes stall as soon as the client stops reading.
func (e *env) dialSlowWebSocket(user, path string) *websocket.Conn {
	e.t.Helper()
	client := &http.Client{Transport: &http.Transport{DialContext: tinyReceiveBuffer().DialContext}}
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(e.url, "http")+path,
		&websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"bearer", e.token(user)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// bigResults appends n completed scans whose results are size bytes each.
func (e *env) bigResults(user string, n, size int) {
	e.t.Helper()
	result := `{"blob":"` + strings.Repeat("x", size) + `"}`
	for range n {
		s := e.newScan(user)
		s.upload()
		s.process()
		s.complete(result)
	}
}

func TestSlowClient_ThatStopsReadingIsDisconnectedWhileOthersKeepReceiving(t *testing.T) {
	e := newEnv(t, envConfig{sendBuffer: 4096, writeTimeout: time.Second})
	user, other := domain.NewID(), domain.NewID()

	// Stalled clients: they send their request and never read a byte.
	stalledSSE, err := tinyReceiveBuffer().Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalledSSE.Close()
	fmt.Fprintf(stalledSSE, "GET /api/v1/events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n\r\n", e.token(user))
	stalledWS := e.dialSlowWebSocket(user, "/api/v1/ws")
	defer stalledWS.CloseNow()
	eventually(t, 10*time.Second, "both stalled clients to subscribe", func() bool { return e.hub.Subscribers() == 2 })

	// Healthy clients of the same user and of another.
	var healthy []*conn
	for _, u := range []string{user, other} {
		s := openSSE(t, e, sseDial{token: e.token(u)})
		defer s.drain()
		w := openWS(t, e, wsDial{token: e.token(u)})
		defer w.drain()
		healthy = append(healthy, s, w)
	}

	e.bigResults(user, 20, 16<<10)
	e.bigResults(other, 2, 16<<10)
	want := e.waitFeed(user, 60)
	wantOther := e.waitFeed(other, 6)
	for i, c := range healthy {
		w := want
		if i >= 2 {
			w = wantOther
		}
		assertFeed(t, fmt.Sprintf("healthy client %d", i), c.collect(t, len(w)), w)
	}
	eventually(t, guard, "the stalled clients' subscriptions to end", func() bool { return e.hub.Subscribers() == len(healthy) })

	// The server closed both stalled connections: reading now ends, after whatever was
	// in flight, instead of blocking.
	stalledSSE.SetReadDeadline(time.Now().Add(guard))
	if _, err := io.Copy(io.Discard, stalledSSE); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("stalled SSE connection: %v, want it closed by the server", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for {
		if _, _, err := stalledWS.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Error("stalled WebSocket: still open, want it closed by the server")
			}
			break
		}
	}
}

func TestWebSocket_AClientThatFallsBehindIsClosedWithPolicyViolationAndResumes(t *testing.T) {
	// A long write timeout: here the queue, not a stuck write, decides.
	e := newEnv(t, envConfig{queue: 4, maxLag: 16, sendBuffer: 4096, writeTimeout: time.Minute})
	user := domain.NewID()
	ws := e.dialSlowWebSocket(user, "/api/v1/ws?after=0")
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)

	// The client reads nothing while its messages pile up, until the hub gives up on it:
	// the write of a message stalls on the full socket and MaxLag more rows arrive.
	// How the rows are batched depends on the scheduler, so more arrive until it does.
	scans := 0
	for dropped := false; !dropped; {
		if scans >= 40 {
			t.Fatalf("the hub still serves a client that read nothing of %d scans' results", scans)
		}
		e.bigResults(user, 10, 16<<10)
		scans += 10
		dropped = within(5*time.Second, func() bool { return e.hub.Subscribers() == 0 })
	}
	want := e.waitFeed(user, 3*scans)

	// Then it reads what was sent, and the close: policy violation, resume after the
	// last id.
	var got []received
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
				t.Fatalf("connection ended with %v (status %d), want a policy violation close", err, code)
			}
			break
		}
		got = append(got, decodeFrame(t, b))
	}
	if len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("got %d of %d messages before the close, want some but not all", len(got), len(want))
	}
	c := openWS(t, e, wsDial{token: e.token(user), after: itoa(got[len(got)-1].ID)})
	defer c.drain()
	got = append(got, c.collect(t, len(want)-len(got))...)
	assertFeed(t, "resumed client", got, want)
}
