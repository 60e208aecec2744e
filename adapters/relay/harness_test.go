package relay_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
)

// The tests run the real pipeline: scan commands through domain/scan.Handler into the
// SQLite event store, the projection runner writing user_feed with the real feed
// projector, the hub tailing it, and the real HTTP API (adapters/httpapi) serving SSE
// and WebSocket, with the Socket.IO endpoint mounted beside it. Clients are real too:
// r3labs' SSE client, coder/websocket's client, and the PWA's socket.io-client.

// allowedOrigin is the one foreign browser origin the test server accepts.
const allowedOrigin = "http://pwa.example"

type envConfig struct {
	queue        int           // hub queue per subscription (default 256)
	maxLag       int           // rows a subscription may fall behind (default 4 × queue)
	heartbeat    time.Duration // default 15 s, i.e. none during a test
	writeTimeout time.Duration // default 10 s
	// sendBuffer, when set, is the server sockets' send buffer, so that a client that
	// stops reading stalls the server's writes after little data.
	sendBuffer int
	// sessions, when set, lets reconnecting Socket.IO clients present expired tokens
	// of live sessions (relay.SocketIO.Sessions).
	sessions relay.Sessions
	// livePerIP, when set, raises the API's cap on live connections per address (and
	// per user), for tests that open thousands from one machine.
	livePerIP int
}

// env is one running pipeline and server.
type env struct {
	t      *testing.T
	ctx    context.Context
	db     *sqlite.DB
	read   projections.DB
	write  projections.DB
	store  *sqlite.Store
	scans  *scan.Handler
	hub    *relay.Hub
	issuer *token.Issuer
	sio    *relay.SocketIO
	srv    *httptest.Server
	url    string
	// skew moves the server's token clock ahead of the wall clock (tokens expire).
	skew atomic.Int64
	// stopPipeline stops the projection runner and the hub, as a shutdown does.
	stopPipeline context.CancelFunc
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "scanledger.db"), migrations.EventStore, migrations.ReadModel)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t:            t,
		ctx:          ctx,
		stopPipeline: cancel,
		db:           db,
		read:         projections.DB{DB: db.Read, Dialect: projections.SQLite},
		write:        projections.DB{DB: db.Write, Dialect: projections.SQLite},
	}
	e.store = sqlite.NewStore(db)
	e.scans = scan.NewHandler(e.store)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.hub = &relay.Hub{Feed: relay.TableFeed{DB: e.read}, Queue: cfg.queue, MaxLag: cfg.maxLag, Logger: log}
	runner := projections.NewRunner(e.store, e.write, feed.NewProjector())
	runner.Logger = log
	runner.OnCommit = func(string, event.Recorded) { e.hub.Wake() }
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{runner.Run, e.hub.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = run(ctx)
		}()
	}

	e.issuer = newEnvIssuer(randomBytes(32))
	e.issuer.Now = func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }
	sse := &relay.SSE{Hub: e.hub, Heartbeat: cfg.heartbeat, WriteTimeout: cfg.writeTimeout}
	e.sio = &relay.SocketIO{Hub: e.hub, Tokens: e.issuer, PIDKey: randomBytes(32),
		Heartbeat: cfg.heartbeat, Origins: []string{allowedOrigin}, Sessions: cfg.sessions, Logger: log}
	api := httpapi.New(httpapi.Config{
		Tokens: e.issuer,
		SSE:    sse,
		WebSocket: &relay.WebSocket{Hub: e.hub, Heartbeat: cfg.heartbeat, WriteTimeout: cfg.writeTimeout,
			Origins: []string{allowedOrigin}, Logger: log},
		Logger:      log,
		Mounts:      map[string]http.Handler{"/socket.io/": e.sio},
		CORSOrigins: []string{allowedOrigin},
		LivePerUser: cfg.livePerIP,
		LivePerIP:   cfg.livePerIP,
	})
	e.srv = httptest.NewUnstartedServer(api.Handler())
	if cfg.sendBuffer > 0 {
		e.srv.Listener = smallSendBuffers{e.srv.Listener, cfg.sendBuffer}
	}
	e.srv.Start()
	e.url = e.srv.URL
	t.Cleanup(func() {
		// Socket.IO first, then the hub, which ends every SSE and WebSocket stream, so
		// that closing the HTTP server does not wait for long-lived requests.
		e.sio.Close()
		cancel()
		wg.Wait()
		sse.Close()
		e.srv.Close()
		db.Close()
	})
	return e
}

// testWriter sends the server's warnings to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type smallSendBuffers struct {
	net.Listener
	size int
}

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

func newEnvIssuer(secret []byte) *token.Issuer {
	return &token.Issuer{Secret: secret, Issuer: "scanledger", Audience: "scanledger-users"}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Tokens.

func (e *env) token(user string) string {
	e.t.Helper()
	return e.issue(auth.Access, user)
}

func (e *env) refreshToken(user string) string {
	e.t.Helper()
	return e.issue(auth.Refresh, user)
}

func (e *env) issue(kind, user string) string {
	e.t.Helper()
	tok, _, err := e.issuer.Issue(kind, user, auth.RoleUser)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// expiredToken is an access token signed with the right secret that expired an hour
// ago.
func (e *env) expiredToken(user string) string {
	e.t.Helper()
	past := *e.issuer
	past.AccessTTL = time.Minute
	past.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	tok, _, err := past.Issue(auth.Access, user, auth.RoleUser)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// Scans. Each step runs a real command and returns the wire message the contract
// (section 2.4) says the PWA gets for it, before the relay assigns it an id.

type wire struct {
	Event string
	Data  string
}

type scanRun struct {
	e       *env
	h       *scan.Handler
	user    string
	id      string
	attempt int
}

func (e *env) newScan(user string) *scanRun {
	return e.newScanWith(e.scans, user)
}

func (e *env) newScanWith(h *scan.Handler, user string) *scanRun {
	e.t.Helper()
	s := &scanRun{e: e, h: h, user: user, id: domain.NewID()}
	s.exec(func(sc *scan.Scan) error { return sc.Create(user, domain.NewID(), true, "") })
	return s
}

func (s *scanRun) exec(decide func(*scan.Scan) error) {
	s.e.t.Helper()
	if _, err := s.h.Execute(s.e.ctx, s.id, scan.Meta{UserID: s.user}, decide); err != nil {
		s.e.t.Fatalf("scan %s: %v", s.id, err)
	}
}

func (s *scanRun) upload() wire {
	s.e.t.Helper()
	img := func() scan.Image {
		return scan.Image{ImageID: domain.NewID(), BlobKey: "k/" + domain.NewID(), ContentType: "image/jpeg", Bytes: 1000, SHA256: strings.Repeat("ab", 32)}
	}
	rooms := []scan.Room{
		{RoomID: domain.NewID(), Ordinal: 0, Label: "Room 1", Images: []scan.Image{img(), img()}},
		{RoomID: domain.NewID(), Ordinal: 1, Label: "Room 2", Images: []scan.Image{img()}},
	}
	s.exec(func(sc *scan.Scan) error { return sc.UploadImages(rooms, "") })
	return wire{"scan:uploaded", `{"scanId":"` + s.id + `","roomsCount":2,"imagesCount":3,"message":"Images uploaded successfully"}`}
}

func (s *scanRun) process() wire {
	s.e.t.Helper()
	s.exec(func(sc *scan.Scan) error { return sc.StartProcessing(s.user, scan.Checklists{}, nil) })
	s.attempt++
	return wire{"scan:processing", `{"scanId":"` + s.id + `","message":"Scan processing started"}`}
}

func (s *scanRun) progress(p int, stage string) wire {
	s.e.t.Helper()
	s.exec(func(sc *scan.Scan) error { return sc.ReportProgress(s.attempt, p, stage, nil) })
	b, _ := json.Marshal(map[string]any{"scanId": s.id, "progress": p, "stage": stage})
	return wire{"scan:progress", string(b)}
}

// complete finishes the attempt with result as the analyzer's result object.
func (s *scanRun) complete(result string) wire {
	s.e.t.Helper()
	s.exec(func(sc *scan.Scan) error {
		return sc.Complete(scan.Completed{Attempt: s.attempt, PipelineVersion: "test-1",
			ClientSummary: json.RawMessage(`{"overall":"ok"}`), Result: json.RawMessage(result)})
	})
	return wire{"scan:completed", `{"scanId":"` + s.id + `","message":"Scan completed successfully","result":{"result":` + result +
		`,"client_summary":{"overall":"ok"},"cost_info":null,"agent_executions":[],"metadata":{"pipeline_version":"test-1"}}}`}
}

func (s *scanRun) fail(reason string) wire {
	s.e.t.Helper()
	s.exec(func(sc *scan.Scan) error { return sc.Fail(s.attempt, "agents_unavailable", reason, false) })
	return wire{"scan:failed", `{"scanId":"` + s.id + `","error":"` + reason + `"}`}
}

// lifecycle runs a scan the way the original worker reported it: uploaded,
// processing, progress 10/20/90/100, completed.
func (e *env) lifecycle(user string) []wire {
	s := e.newScan(user)
	return []wire{
		s.upload(),
		s.process(),
		s.progress(10, "Preparing request"),
		s.progress(20, "Analyzing images"),
		s.progress(90, "Saving results"),
		s.progress(100, "Complete"),
		s.complete(`{"rooms":[{"name":"Kitchen","issues":["Crack ✓ — ünïcode"]}]}`),
	}
}

// failing runs a scan whose processing fails for good.
func (e *env) failing(user string) []wire {
	s := e.newScan(user)
	return []wire{s.upload(), s.process(), s.fail("Python agents service unavailable")}
}

// feedOf is the truth a client is checked against: the user's rows in user_feed.
func (e *env) feedOf(user string, after int64) []relay.Item {
	e.t.Helper()
	var all []relay.Item
	for {
		page, err := relay.TableFeed{DB: e.read}.ReadUser(e.ctx, user, after, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
		after = page[len(page)-1].Seq
	}
}

// latest waits until the projection has written n rows for user and returns them.
func (e *env) waitFeed(user string, n int) []relay.Item {
	e.t.Helper()
	// The projection may take long on a loaded machine, but it keeps adding rows: only
	// a feed that stands still for guard fails the test.
	var rows []relay.Item
	for {
		had := len(rows)
		if within(guard, func() bool {
			rows = e.feedOf(user, 0)
			return len(rows) >= n || len(rows) > had
		}) {
			if len(rows) >= n {
				return rows
			}
			continue
		}
		e.t.Fatalf("waiting for %d feed rows of %s: stuck at %d for %v", n, user, len(rows), guard)
	}
}

// received is one message as a client saw it, whatever the transport.
type received struct {
	ID    int64
	Event string
	Data  json.RawMessage
}

func (r received) String() string { return fmt.Sprintf("#%d %s %s", r.ID, r.Event, r.Data) }

// assertWire checks that got is exactly want, in order, numbered from firstID.
func assertWire(t *testing.T, got []received, want []wire, firstID int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != firstID+int64(i) || g.Event != w.Event || !socketiotest.SameJSON(t, g.Data, json.RawMessage(w.Data)) {
			t.Fatalf("message %d: got %v, want #%d %s %s", i, g, firstID+int64(i), w.Event, w.Data)
		}
	}
}

// assertFeed checks that got is exactly the feed rows want, in order.
func assertFeed(t *testing.T, who string, got []received, want []relay.Item) {
	t.Helper()
	if len(got) != len(want) {
		ids := make([]int64, len(got))
		for i, g := range got {
			ids[i] = g.ID
		}
		t.Fatalf("%s: got %d messages, want %d: ids %v", who, len(got), len(want), ids)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.Seq || g.Event != w.Event || !socketiotest.SameJSON(t, g.Data, w.Payload) {
			t.Fatalf("%s: message %d: got %v, want #%d %s %s", who, i, g, w.Seq, w.Event, w.Payload)
		}
	}
}

// guard bounds the waits of these tests: it only fires when something hangs, and then
// the test fails within seconds instead of looking slow.
const guard = 10 * time.Second

// within reports whether cond holds within timeout.
func within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// eventually polls cond until it holds; the timeout only guards against a hang.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !within(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}
