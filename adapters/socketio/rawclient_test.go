package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A raw Engine.IO client over net/http and coder/websocket, for what socket.io-client
// cannot be made to do: malformed input, stalls, exact frames, thousands of connections.

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func engineURL(ts *httptest.Server, transport, sid string) string {
	u := ts.URL + "/socket.io/?EIO=4&transport=" + transport
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

func wsURL(ts *httptest.Server, sid string) string {
	return "ws" + strings.TrimPrefix(engineURL(ts, "websocket", sid), "http")
}

func parseOpen(t testing.TB, frame string) openPacket {
	t.Helper()
	var op openPacket
	data, ok := strings.CutPrefix(frame, "0")
	if !ok || json.Unmarshal([]byte(data), &op) != nil || op.SID == "" {
		t.Fatalf("not an open packet: %q", frame)
	}
	return op
}

// do sends one HTTP request and returns status and body.
func do(t testing.TB, method, url, body string, header http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// handshakePolling opens a polling session and returns its open packet.
func handshakePolling(t testing.TB, ts *httptest.Server) openPacket {
	t.Helper()
	status, body, _ := do(t, http.MethodGet, engineURL(ts, "polling", ""), "", nil)
	if status != http.StatusOK {
		t.Fatalf("handshake: %d %s", status, body)
	}
	return parseOpen(t, body)
}

func poll(t testing.TB, ts *httptest.Server, sid string) (int, string) {
	t.Helper()
	status, body, _ := do(t, http.MethodGet, engineURL(ts, "polling", sid), "", nil)
	return status, body
}

func post(t testing.TB, ts *httptest.Server, sid, payload string) (int, string) {
	t.Helper()
	status, body, _ := do(t, http.MethodPost, engineURL(ts, "polling", sid), payload, nil)
	return status, body
}

// pollUntil polls until a response contains want, and returns all packets received.
func pollUntil(t testing.TB, ts *httptest.Server, sid, want string) []string {
	t.Helper()
	var got []string
	for range 20 {
		status, body := poll(t, ts, sid)
		if status != http.StatusOK {
			t.Fatalf("poll: %d %s", status, body)
		}
		got = append(got, strings.Split(body, "\x1e")...)
		if strings.Contains(body, want) {
			return got
		}
	}
	t.Fatalf("no %q in %q", want, got)
	return nil
}

// startPoll sends a GET in the background and returns a func that waits for its body.
func startPoll(t testing.TB, ts *httptest.Server, sid string) func() string {
	t.Helper()
	answer := make(chan string, 1)
	go func() {
		// No t.Fatal here: this is not the test's goroutine.
		resp, err := http.Get(engineURL(ts, "polling", sid))
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	return func() string {
		t.Helper()
		select {
		case body := <-answer:
			return body
		case <-time.After(wait):
			t.Fatal("poll still pending")
			return ""
		}
	}
}

// connectPolling opens a polling session, connects it to /scans with token and returns
// its sid once the CONNECT ack has been polled.
func connectPolling(t testing.TB, ts *httptest.Server, token string) string {
	t.Helper()
	sid := handshakePolling(t, ts).SID
	if status, body := post(t, ts, sid, `40/scans,{"token":"`+token+`"}`); status != http.StatusOK {
		t.Fatalf("post CONNECT: %d %s", status, body)
	}
	pollUntil(t, ts, sid, "40/scans,")
	return sid
}

func dialWS(ctx context.Context, url string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	conn.SetReadLimit(-1)
	return conn, nil
}

func readText(ctx context.Context, conn *websocket.Conn) (string, error) {
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	if typ != websocket.MessageText {
		return "", fmt.Errorf("read: binary frame %q", data)
	}
	return string(data), nil
}

func writeText(ctx context.Context, conn *websocket.Conn, s string) error {
	if err := conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		return fmt.Errorf("write %q: %w", s, err)
	}
	return nil
}

// connectWS opens a WebSocket session and connects it to /scans with token, returning
// the connection after the CONNECT ack.
func connectWS(ctx context.Context, url, token string) (*websocket.Conn, error) {
	return connectWSWith(ctx, url, token, nil)
}

func connectWSWith(ctx context.Context, url, token string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	conn, err := dialWS(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	if open, err := readText(ctx, conn); err != nil || !strings.HasPrefix(open, "0{") {
		conn.CloseNow()
		return nil, fmt.Errorf("open packet %q: %v", open, err)
	}
	if err := writeText(ctx, conn, `40/scans,{"token":"`+token+`"}`); err != nil {
		conn.CloseNow()
		return nil, err
	}
	for {
		frame, err := readText(ctx, conn)
		if err != nil {
			conn.CloseNow()
			return nil, err
		}
		if strings.HasPrefix(frame, "40/scans,") {
			return conn, nil
		}
		if strings.HasPrefix(frame, "44/scans,") {
			conn.CloseNow()
			return nil, fmt.Errorf("connect refused: %s", frame)
		}
	}
}

func mustConnectWS(t testing.TB, ts *httptest.Server, token string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := connectWS(ctx, wsURL(ts, ""), token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// readUntil reads frames, answering pings, until one has prefix, and returns the frames
// read before it and the matching one.
func readUntil(t testing.TB, conn *websocket.Conn, prefix string) ([]string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var before []string
	for {
		frame, err := readText(ctx, conn)
		if err != nil {
			t.Fatalf("waiting for %q after %q: %v", prefix, before, err)
		}
		if strings.HasPrefix(frame, prefix) {
			return before, frame
		}
		if frame == "2" {
			if err := writeText(ctx, conn, "3"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		before = append(before, frame)
	}
}

// probeUpgrade starts the upgrade of polling session sid as socket.io-client does: a
// poll waits, a WebSocket opens and probes, and the waiting poll is answered with a
// noop. The returned WebSocket has not yet sent the upgrade packet "5".
func probeUpgrade(t testing.TB, ctx context.Context, ts *httptest.Server, sid string) *websocket.Conn {
	t.Helper()
	pending := startPoll(t, ts, sid)
	conn, err := dialWS(ctx, wsURL(ts, sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if err := writeText(ctx, conn, "2probe"); err != nil {
		t.Fatal(err)
	}
	if frame, err := readText(ctx, conn); err != nil || frame != "3probe" {
		t.Fatalf("probe answer %q, %v", frame, err)
	}
	if body := pending(); body != "6" {
		t.Fatalf("pending poll answered %q, want noop", body)
	}
	return conn
}
