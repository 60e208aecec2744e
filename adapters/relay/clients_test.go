package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
)

// statusError is a connection refused with an HTTP status before any stream.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.code, e.body) }

func statusOf(t *testing.T, err error) int {
	t.Helper()
	var se *statusError
	if !errors.As(err, &se) {
		t.Fatalf("want a refused connection, got %v", err)
	}
	return se.code
}

// conn is one client connection of any transport. msgs is closed when it ends.
type conn struct {
	msgs   chan received
	done   chan struct{}
	err    error // why it ended; set before done is closed
	cancel func()
	pings  atomic.Int64
	header http.Header // handshake response headers
}

// collect reads n messages, failing the test if the connection ends first, or if no
// message comes for guard: a loaded machine may deliver slowly, but it delivers.
func (c *conn) collect(t *testing.T, n int) []received {
	t.Helper()
	var got []received
	for len(got) < n {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("connection ended after %d of %d messages (%v): %v", len(got), n, c.err, got)
			}
			got = append(got, m)
		case <-time.After(guard):
			t.Fatalf("no message for %v after %d of %d messages: %v", guard, len(got), n, got)
		}
	}
	return got
}

// quiet returns what arrives within d: used only to show that nothing more comes,
// never to wait for something that should.
func (c *conn) quiet(d time.Duration) []received {
	var got []received
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-deadline:
			return got
		}
	}
}

// drain ends the connection and returns the messages it had delivered.
func (c *conn) drain() []received {
	c.cancel()
	var got []received
	for m := range c.msgs {
		got = append(got, m)
	}
	return got
}

// waitEnd waits for the server to end the connection and returns why.
func (c *conn) waitEnd(t *testing.T) error {
	t.Helper()
	go func() {
		for range c.msgs {
		}
	}()
	select {
	case <-c.done:
		return c.err
	case <-time.After(guard):
		t.Fatalf("the server did not end the connection within %v", guard)
		return nil
	}
}

type sseDial struct {
	token  string
	lastID string // Last-Event-ID header
	query  string
}

// dialSSE opens GET /api/v1/events with r3labs' client and returns once the response
// headers arrived, which the server sends after the subscription is registered.
func dialSSE(e *env, d sseDial) (*conn, error) {
	cl := sse.NewClient(e.url + "/api/v1/events" + d.query)
	if d.token != "" {
		cl.Headers["Authorization"] = "Bearer " + d.token
	}
	if d.lastID != "" {
		cl.Headers["Last-Event-ID"] = d.lastID
	}
	// One connection per dial: the tests decide when and from where to reconnect.
	cl.ReconnectStrategy = &backoff.StopBackOff{}
	ready := make(chan error, 1)
	c := &conn{msgs: make(chan received, 8192), done: make(chan struct{})}
	cl.ResponseValidator = func(_ *sse.Client, resp *http.Response) error {
		c.header = resp.Header.Clone()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			err := &statusError{resp.StatusCode, string(b)}
			ready <- err
			return err
		}
		ready <- nil
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		defer close(c.msgs)
		// Once one message is dropped (the test ended the connection), every later one
		// is too: a client never sees a message after one it missed.
		dropped := false
		c.err = cl.SubscribeRawWithContext(ctx, func(ev *sse.Event) {
			id, err := strconv.ParseInt(string(ev.ID), 10, 64)
			if err != nil {
				id = -1
			}
			if dropped {
				return
			}
			select {
			case c.msgs <- received{ID: id, Event: string(ev.Event), Data: json.RawMessage(ev.Data)}:
			case <-ctx.Done():
				dropped = true
			}
		})
	}()
	select {
	case err := <-ready:
		if err != nil {
			cancel()
			<-c.done
			return nil, err
		}
		return c, nil
	case <-c.done:
		cancel()
		return nil, fmt.Errorf("sse connect: %v", c.err)
	}
}

type wsDial struct {
	token   string
	inQuery bool // token as ?token= instead of the bearer subprotocol
	after   string
	scanID  string
	origin  string
}

// openSSE is dialSSE for a connection that must open.
func openSSE(t *testing.T, e *env, d sseDial) *conn {
	t.Helper()
	c, err := dialSSE(e, d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openWS is dialWS for a connection that must open.
func openWS(t *testing.T, e *env, d wsDial) *conn {
	t.Helper()
	c, _, err := dialWS(e, d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dialWS opens GET /api/v1/ws with coder/websocket's client.
func dialWS(e *env, d wsDial) (*conn, *websocket.Conn, error) {
	q := url.Values{}
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if d.token != "" {
		if d.inQuery {
			q.Set("token", d.token)
		} else {
			opts.Subprotocols = []string{"bearer", d.token}
		}
	}
	if d.after != "" {
		q.Set("after", d.after)
	}
	if d.scanID != "" {
		q.Set("scanId", d.scanID)
	}
	if d.origin != "" {
		opts.HTTPHeader.Set("Origin", d.origin)
	}
	c := &conn{msgs: make(chan received, 8192), done: make(chan struct{})}
	opts.OnPingReceived = func(context.Context, []byte) bool {
		c.pings.Add(1)
		return true
	}
	u := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/ws?" + q.Encode()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	ws, resp, err := websocket.Dial(dctx, u, opts)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			return nil, nil, &statusError{resp.StatusCode, string(b)}
		}
		return nil, nil, err
	}
	c.header = resp.Header.Clone()
	ws.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = func() {
		cancel()
		ws.CloseNow()
	}
	go func() {
		defer close(c.done)
		defer close(c.msgs)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				c.err = err
				return
			}
			m, err := parseFrame(b)
			if err != nil {
				c.err = err
				return
			}
			select {
			case c.msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return c, ws, nil
}

// parseFrame decodes a WebSocket text frame, which must have exactly the documented
// fields.
func parseFrame(b []byte) (received, error) {
	var f struct {
		ID    *int64          `json:"id"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || f.ID == nil || f.Event == "" || f.Data == nil {
		return received{}, fmt.Errorf("frame %q: want {id, event, data} (%v)", b, err)
	}
	return received{ID: *f.ID, Event: f.Event, Data: f.Data}, nil
}

func decodeFrame(t *testing.T, b []byte) received {
	t.Helper()
	m, err := parseFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The PWA's socket.io-client, run by node.

type observation = socketiotest.Observation

// message turns an event observation into what the client received: the data and
// the offset (the feed id) socket.io-client keeps for recovery.
func message(t *testing.T, o observation) received {
	t.Helper()
	if len(o.Args) != 2 {
		t.Fatalf("event %s: want data and offset, got %d args", o.Event, len(o.Args))
	}
	var offset string
	if err := json.Unmarshal(o.Args[1], &offset); err != nil {
		t.Fatalf("event %s: offset %s is not a string", o.Event, o.Args[1])
	}
	id, err := strconv.ParseInt(offset, 10, 64)
	if err != nil {
		t.Fatalf("event %s: offset %q is not a feed id", o.Event, offset)
	}
	return received{ID: id, Event: o.Event, Data: o.Args[0]}
}

// nodeClient is the socket.io-client connected to the test server, its waits bounded
// by guard.
type nodeClient struct {
	*socketiotest.Client
	t *testing.T
}

func startSocketIO(t *testing.T, e *env, opts socketiotest.Options) *nodeClient {
	t.Helper()
	opts.URL, opts.Namespace = e.url, "/scans"
	return &nodeClient{Client: socketiotest.Start(t, opts), t: t}
}

// waitFor reads observations until one satisfies match and returns it.
func (c *nodeClient) waitFor(what string, match func(observation) bool) observation {
	c.t.Helper()
	return c.WaitFor(what, guard, match)
}

// recoversAfter takes the client offline, commits user's events with meanwhile while
// it is away and waits until the feed's first feedBefore rows are followed by them,
// then brings it back and requires a recovered reconnect. It returns what it missed.
func (c *nodeClient) recoversAfter(e *env, user string, feedBefore int, meanwhile func(user string) []wire) []wire {
	c.t.Helper()
	c.Command("offline")
	c.waitFor("disconnect", socketiotest.IsEv("disconnect"))
	missed := meanwhile(user)
	e.waitFeed(user, feedBefore+len(missed))
	c.Command("online")
	if o := c.waitFor("reconnect", socketiotest.IsEv("connect")); !o.Recovered {
		c.t.Fatalf("reconnect: %v, want recovered", o)
	}
	return missed
}

// events waits for n events and returns them as received messages.
func (c *nodeClient) events(n int) []received {
	c.t.Helper()
	var got []received
	for _, o := range c.Events(n, guard) {
		got = append(got, message(c.t, o))
	}
	return got
}

// rawSSE opens the SSE stream with a plain HTTP client, to read its bytes.
func rawSSE(e *env, tok string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, e.url+"/api/v1/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, &statusError{resp.StatusCode, string(b)}
	}
	return resp, nil
}

// readUntil reads r until it has seen want.
func readUntil(t *testing.T, r io.Reader, want string) {
	t.Helper()
	found := make(chan error, 1)
	go func() {
		var seen []byte
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			seen = append(seen, buf[:n]...)
			if bytes.Contains(seen, []byte(want)) {
				found <- nil
				return
			}
			if err != nil {
				found <- fmt.Errorf("read %q: %w", seen, err)
				return
			}
		}
	}()
	select {
	case err := <-found:
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
	case <-time.After(guard):
		t.Fatalf("timed out after %v waiting for %q", guard, want)
	}
}

// pwaEvents waits until the client has emitted n distinct events and returns them in
// the order it emitted them, leaving out re-emissions of an offset it had emitted
// already, as an app that remembers the last offset it handled would; dups counts
// those.
//
// socket.io-client 4.8.1 defers every decoded packet by a tick (Manager.ondecoded) and
// keeps packets that arrive while it is disconnected in a buffer it does not clear on
// disconnect. A packet decoded just before its transport closed is therefore emitted
// only when it next connects, before "connect", although the CONNECT it sent carried
// the offset before that packet, so a recovered session sends it again. A duplicate
// is legitimate only in that case: one of its emissions must be such a stale one.
func (c *nodeClient) pwaEvents(n int) (events []received, dups int) {
	c.t.Helper()
	connected := false
	last := int64(0)
	stale := map[int64]bool{}
	var dupIDs []int64
	visit := func(o observation) {
		switch o.Ev {
		case "connect":
			connected = true
		case "disconnect":
			connected = false
		case "event":
			m := message(c.t, o)
			if !connected {
				stale[m.ID] = true
			}
			if m.ID <= last {
				dupIDs = append(dupIDs, m.ID)
				return
			}
			last = m.ID
			events = append(events, m)
		}
	}
	for _, o := range c.Seen() {
		visit(o)
	}
	// The client reconnects on its own between events, which takes it a while on a
	// loaded machine: the wait fails after guard without any observation (an event, a
	// reconnect), or 3×guard without a new event.
	progress := time.Now()
	for len(events) < n {
		if time.Since(progress) > 3*guard {
			c.t.Fatalf("no new event for %v after %d of %d events: %v", 3*guard, len(events), n, events)
		}
		had := len(events)
		o, err := c.Next(guard)
		switch {
		case errors.Is(err, socketiotest.ErrExited):
			c.t.Fatalf("client exited after %d of %d events", len(events), n)
		case err != nil:
			c.t.Fatalf("nothing from the client for %v after %d of %d events: %v", guard, len(events), n, events)
		}
		visit(o)
		if len(events) > had {
			progress = time.Now()
		}
	}
	for _, id := range dupIDs {
		if !stale[id] {
			c.t.Errorf("event #%d emitted twice, neither time from the client's stale buffer", id)
		}
	}
	return events, len(dupIDs)
}
