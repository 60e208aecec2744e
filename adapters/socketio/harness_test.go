package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/socketio"
	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
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
func startServer(t testing.TB, rl *relay, srv *socketio.Server) (*socketio.Server, *httptest.Server) {
	t.Helper()
	if srv.Namespace == "" {
		srv.Namespace = "/scans"
	}
	if srv.Connect == nil {
		srv.Connect = rl.Connect
	}
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

// startHandler returns a server that tests call directly, without a listener.
func startHandler(t testing.TB, srv *socketio.Server) *socketio.Server {
	t.Helper()
	if srv.Connect == nil {
		srv.Connect = newRelay(8).Connect
	}
	t.Cleanup(srv.Close)
	return srv
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

// startClient runs the PWA's socket.io-client against ts, namespace /scans.
func startClient(t *testing.T, ts *httptest.Server, opts socketiotest.Options) *socketiotest.Client {
	t.Helper()
	opts.URL, opts.Namespace = ts.URL, "/scans"
	return socketiotest.Start(t, opts)
}

// assertDelivered checks that the client got exactly want, in order, each with its
// payload and with its id as the last argument.
func assertDelivered(t *testing.T, got []socketiotest.Observation, want []socketio.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i, m := range want {
		o := got[i]
		if o.Event != m.Event || len(o.Args) != 2 {
			t.Fatalf("event %d: got %s with %d args, want %s with data and offset", i, o.Event, len(o.Args), m.Event)
		}
		if !socketiotest.SameJSON(t, o.Args[0], m.Data) {
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
