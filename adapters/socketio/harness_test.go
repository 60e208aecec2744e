package socketio_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/socketio"
)

func TestMain(m *testing.M) {
	// The memory test re-runs this binary as its load generator, so that the
	// connections' client side does not count in the server's heap.
	if url := os.Getenv(loadClientEnv); url != "" {
		os.Exit(runLoadClient(url))
	}
	os.Exit(m.Run())
}

// relay is the tests' stand-in for scanledger's relay: a per-user feed with sequential
// ids, fan-out to connected sockets through bounded channels, and recovery from a pid
// and offset. Tokens "good-<user>" authenticate <user>; anything else is refused.
type relay struct {
	chanSize int

	mu    sync.Mutex
	feeds map[string][]socketio.Message
	subs  map[string]map[chan socketio.Message]struct{}
	pids  map[string]string // pid issued → user
	calls []connectCall
}

type connectCall struct {
	Token, PID, Offset string
	Recovered          bool
}

func newRelay(chanSize int) *relay {
	return &relay{
		chanSize: chanSize,
		feeds:    make(map[string][]socketio.Message),
		subs:     make(map[string]map[chan socketio.Message]struct{}),
		pids:     make(map[string]string),
	}
}

func (rl *relay) Connect(ctx context.Context, r *http.Request, auth json.RawMessage) (*socketio.Session, error) {
	var a struct {
		Token  string `json:"token"`
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if err := json.Unmarshal(auth, &a); err != nil {
		return nil, errors.New("malformed auth")
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	call := connectCall{Token: a.Token, PID: a.PID, Offset: a.Offset}
	defer func() { rl.calls = append(rl.calls, call) }()
	user, ok := strings.CutPrefix(a.Token, "good-")
	if !ok || user == "" {
		return nil, errors.New("invalid token")
	}
	ch := make(chan socketio.Message, rl.chanSize)
	sess := &socketio.Session{Start: forward(ch)}
	if a.PID != "" && rl.pids[a.PID] == user && a.Offset != "" {
		feed := rl.feeds[user]
		n, err := strconv.Atoi(a.Offset)
		if err == nil && n <= len(feed) && len(feed)-n <= rl.chanSize {
			for _, m := range feed[n:] {
				ch <- m
			}
			sess.Recovered, sess.PID = true, a.PID
		}
	}
	if !sess.Recovered {
		sess.PID = fmt.Sprintf("pid-%s-%d", user, len(rl.calls))
		rl.pids[sess.PID] = user
	}
	call.Recovered = sess.Recovered
	if rl.subs[user] == nil {
		rl.subs[user] = make(map[chan socketio.Message]struct{})
	}
	rl.subs[user][ch] = struct{}{}
	context.AfterFunc(ctx, func() {
		rl.mu.Lock()
		delete(rl.subs[user], ch)
		rl.mu.Unlock()
	})
	return sess, nil
}

// forward is a Session.Start that sends what arrives on ch, and closes the socket
// when ch is closed, as a relay's producer does.
func forward(ch <-chan socketio.Message) func(*socketio.Sender) {
	return func(out *socketio.Sender) {
		go func() {
			for {
				select {
				case m, ok := <-ch:
					if !ok {
						out.Close()
						return
					}
					if out.Send(m) != nil {
						return
					}
				case <-out.Done():
					return
				}
			}
		}()
	}
}

// publish appends an event to the user's feed and fans it out; a socket whose channel
// is full is dropped, as the real relay drops a slow consumer.
func (rl *relay) publish(user, event, data string) socketio.Message {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	m := rl.appendLocked(user, event, data)
	for ch := range rl.subs[user] {
		select {
		case ch <- m:
		default:
			close(ch)
			delete(rl.subs[user], ch)
		}
	}
	return m
}

// dropAll drops every socket of the user, then appends events that only a recovery can
// deliver; one lock makes sure no reconnect slips in between.
func (rl *relay) dropAll(user string, missed ...[2]string) []socketio.Message {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for ch := range rl.subs[user] {
		close(ch)
		delete(rl.subs[user], ch)
	}
	var ms []socketio.Message
	for _, ev := range missed {
		ms = append(ms, rl.appendLocked(user, ev[0], ev[1]))
	}
	return ms
}

func (rl *relay) appendLocked(user, event, data string) socketio.Message {
	m := socketio.Message{ID: strconv.Itoa(len(rl.feeds[user]) + 1), Event: event, Data: json.RawMessage(data)}
	rl.feeds[user] = append(rl.feeds[user], m)
	return m
}

func (rl *relay) subscribers(user string) int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.subs[user])
}

func (rl *relay) connectCalls() []connectCall {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return append([]connectCall(nil), rl.calls...)
}

// startServer serves cfg at /socket.io/ of a test HTTP server. Namespace and Connect
// default to "/scans" and rl.
func startServer(t testing.TB, rl *relay, cfg socketio.Config) (*socketio.Server, *httptest.Server) {
	t.Helper()
	if cfg.Namespace == "" {
		cfg.Namespace = "/scans"
	}
	if cfg.Connect == nil {
		cfg.Connect = rl.Connect
	}
	srv := socketio.NewServer(cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		// The server first, so that pending long-polls return and ts.Close does not wait.
		srv.Close()
		ts.Close()
	})
	return srv, ts
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settleGoroutines waits for the goroutine count to come back to baseline.
func settleGoroutines(t testing.TB, baseline int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jsonEqual(t testing.TB, got, want json.RawMessage) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("unmarshal %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("unmarshal %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// requireSocketIOClient installs testdata's pinned socket.io-client with npm ci unless
// node_modules already holds the pinned versions, and returns the testdata directory.
func requireSocketIOClient(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required on PATH: these tests drive a real socket.io-client")
	}
	pinned := map[string]string{"socket.io-client": "4.8.1", "engine.io-client": "6.6.3", "socket.io-parser": "4.2.4"}
	installed := func() bool {
		for pkg, version := range pinned {
			raw, err := os.ReadFile(filepath.Join(dir, "node_modules", pkg, "package.json"))
			var meta struct{ Version string }
			if err != nil || json.Unmarshal(raw, &meta) != nil || meta.Version != version {
				return false
			}
		}
		return true
	}
	if installed() {
		return dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if !installed() {
		t.Fatal("npm ci did not install the pinned socket.io-client versions")
	}
	return dir
}

// observation is one line of testdata/client.js's report.
type observation struct {
	Ev        string            `json:"ev"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Transport string            `json:"transport"`
	Recovered bool              `json:"recovered"`
	Reason    string            `json:"reason"`
	Message   string            `json:"message"`
	ID        string            `json:"id"`
	line      string
}

func (o observation) String() string { return o.line }

type clientOptions struct {
	Token        string   `json:"token"`
	Transports   []string `json:"transports,omitempty"`
	Reconnection bool     `json:"reconnection"`
}

// nodeClient is a running testdata/client.js.
type nodeClient struct {
	t      *testing.T
	stdin  interface{ Write([]byte) (int, error) }
	lines  chan observation
	seen   []observation
	stderr *bytes.Buffer
}

func startClient(t *testing.T, ts *httptest.Server, opts clientOptions) *nodeClient {
	t.Helper()
	dir := requireSocketIOClient(t)
	cfg, err := json.Marshal(struct {
		URL       string `json:"url"`
		Namespace string `json:"namespace"`
		clientOptions
	}{ts.URL, "/scans", opts})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(dir, "client.js"), string(cfg))
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &nodeClient{t: t, stdin: stdin, lines: make(chan observation, 1024), stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var o observation
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				o = observation{Ev: "garbage"}
			}
			o.line = sc.Text()
			c.lines <- o
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { <-read; done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("client observations:\n%s\nclient stderr: %s", c.seen, c.stderr)
		}
	})
	return c
}

func (c *nodeClient) command(cmd string) {
	c.t.Helper()
	if _, err := c.stdin.Write([]byte(cmd + "\n")); err != nil {
		c.t.Fatalf("command %q: %v", cmd, err)
	}
}

// saw reports whether an observation already read satisfies match.
func (c *nodeClient) saw(match func(observation) bool) bool {
	return slices.ContainsFunc(c.seen, match)
}

// sawOrWait returns at once when an observation already read satisfies match, or
// waits for one, for observations whose order relative to others is not fixed.
func (c *nodeClient) sawOrWait(what string, timeout time.Duration, match func(observation) bool) {
	c.t.Helper()
	if !c.saw(match) {
		c.waitFor(what, timeout, match)
	}
}

// waitFor reads observations until one satisfies match and returns it.
func (c *nodeClient) waitFor(what string, timeout time.Duration, match func(observation) bool) observation {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case o, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("client exited while waiting for %s", what)
			}
			c.seen = append(c.seen, o)
			if match(o) {
				return o
			}
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// events waits for n events and returns them.
func (c *nodeClient) events(n int, timeout time.Duration) []observation {
	c.t.Helper()
	var evs []observation
	for len(evs) < n {
		evs = append(evs, c.waitFor(fmt.Sprintf("event %d of %d", len(evs)+1, n), timeout, func(o observation) bool {
			return o.Ev == "event"
		}))
	}
	return evs
}

// quiet collects observations for d.
func (c *nodeClient) quiet(d time.Duration) []observation {
	var got []observation
	deadline := time.After(d)
	for {
		select {
		case o, ok := <-c.lines:
			if !ok {
				return got
			}
			c.seen = append(c.seen, o)
			got = append(got, o)
		case <-deadline:
			return got
		}
	}
}

func isEv(ev string) func(observation) bool {
	return func(o observation) bool { return o.Ev == ev }
}

// assertDelivered checks that the client got exactly want, in order, each with its
// payload and with its id as the last argument.
func assertDelivered(t *testing.T, got []observation, want []socketio.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i, m := range want {
		o := got[i]
		if o.Event != m.Event || len(o.Args) != 2 {
			t.Fatalf("event %d: got %s with %d args, want %s with data and offset", i, o.Event, len(o.Args), m.Event)
		}
		if !jsonEqual(t, o.Args[0], m.Data) {
			t.Errorf("event %d (%s): data %s, want %s", i, m.Event, o.Args[0], m.Data)
		}
		if want := strconv.Quote(m.ID); string(o.Args[1]) != want {
			t.Errorf("event %d (%s): offset %s, want %s", i, m.Event, o.Args[1], want)
		}
	}
}

// scanEvents are the contract's five events with its payloads, for one scan.
func scanEvents(scanID string) [][2]string {
	return [][2]string{
		{"scan:uploaded", `{"scanId":"` + scanID + `","roomsCount":2,"imagesCount":5,"message":"Images uploaded successfully"}`},
		{"scan:processing", `{"scanId":"` + scanID + `","message":"Scan processing started"}`},
		{"scan:progress", `{"scanId":"` + scanID + `","progress":10,"stage":"Preparing request"}`},
		{"scan:progress", `{"scanId":"` + scanID + `","progress":20,"stage":"Analyzing images"}`},
		{"scan:progress", `{"scanId":"` + scanID + `","progress":90,"stage":"Saving results"}`},
		{"scan:progress", `{"scanId":"` + scanID + `","progress":100,"stage":"Complete"}`},
		{"scan:completed", `{"scanId":"` + scanID + `","message":"Scan completed successfully","result":{"rooms":[{"name":"Kitchen","issues":["Crack ✓ — ünïcode"]}]}}`},
		{"scan:failed", `{"scanId":"` + scanID + `","error":"Python agents service unavailable"}`},
	}
}

func publishAll(rl *relay, user string, evs [][2]string) []socketio.Message {
	var ms []socketio.Message
	for _, ev := range evs {
		ms = append(ms, rl.publish(user, ev[0], ev[1]))
	}
	return ms
}
