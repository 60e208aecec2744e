package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/internal/logtest"
)

// binary is the scanledger binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scanledger-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "scanledger")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build scanledger: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running `scanledger serve` process.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string
	dataDir string
	env     []string
	logs    *logtest.Buffer
	done    chan struct{}
	// client sends do's requests; nil: http.DefaultClient (checkOpenAPI sets one that
	// validates them).
	client *http.Client
}

var listening = regexp.MustCompile(`listening on (http://[^\s]+)`)

// startServer runs scanledger serve on a free port with the given data dir and extra
// environment, and waits until it prints where it listens.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", dataDir, env...)
}

// startServerAt is startServer on a given address: a restart where clients expect it.
func startServerAt(t *testing.T, addr, dataDir string, env ...string) *server {
	t.Helper()
	return startBinary(t, binary, addr, dataDir, env...)
}

// startBinary is startServerAt with another build of the binary.
func startBinary(t *testing.T, bin, addr, dataDir string, env ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, env: env, logs: &logtest.Buffer{}, done: make(chan struct{})}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout = io.MultiWriter(pw, s.logs)
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case s.base = <-found:
	case <-s.done:
		t.Fatalf("server exited early:\n%s", s.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start:\n%s", s.logs.String())
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop ends the server gracefully.
func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.t.Failed() {
		s.t.Logf("server logs:\n%s", s.logs.String())
	}
}

// kill ends the server with SIGKILL: no shutdown code runs.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// restart starts the next life of a stopped server on the same data and settings,
// where it listened: a client keeps its URL.
func (s *server) restart() *server {
	s.t.Helper()
	return startServerAt(s.t, strings.TrimPrefix(s.base, "http://"), s.dataDir, s.env...)
}

// token mints an access token with the binary's own token command.
func (s *server) token(user, role string) string {
	s.t.Helper()
	cmd := exec.Command(binary, "token", "--data-dir", s.dataDir, "--user", user, "--role", role)
	cmd.Env = append(os.Environ(), s.env...) // the server's secret, however it was configured
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("token: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

type response struct {
	Status int
	Body   []byte
}

func (r response) data(t *testing.T, v any) {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil || env.Data == nil {
		t.Fatalf("no data envelope in %s", r.Body)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("decode %s: %v", env.Data, err)
	}
}

func (s *server) do(method, path, tok, contentType string, body io.Reader) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := s.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

func (s *server) json(method, path, tok, body string) response {
	s.t.Helper()
	return s.do(method, path, tok, "application/json", strings.NewReader(body))
}

// file is one multipart file part.
type file struct {
	field, name string
	data        []byte
}

func (s *server) upload(path, tok string, files []file, fields map[string]string) response {
	s.t.Helper()
	body, contentType := multipartForm(files, fields)
	return s.do(http.MethodPost, path, tok, contentType, bytes.NewReader(body))
}

// multipartForm is the body of an upload of files with fields, and its content type.
func multipartForm(files []file, fields map[string]string) (body []byte, contentType string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		w, _ := mw.CreateFormFile(f.field, f.name)
		w.Write(f.data)
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// submitScan creates a scan with the create body, uploads files to it with the upload's
// fields and asks for its processing, as the app does; it returns the scan's id and path.
func (s *server) submitScan(tok, create string, files []file, fields map[string]string) (id, path string) {
	s.t.Helper()
	var created struct{ ScanID string }
	s.json("POST", "/api/v1/scans", tok, create).data(s.t, &created)
	path = "/api/v1/scans/" + created.ScanID
	if r := s.upload(path+"/images", tok, files, fields); r.Status != http.StatusCreated {
		s.t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if r := s.json("POST", path+"/process", tok, `{}`); r.Status != http.StatusCreated {
		s.t.Fatalf("process: %d %s", r.Status, r.Body)
	}
	return created.ScanID, path
}

// heldAnalyzer is an analyzer that holds every call until release, then succeeds.
func heldAnalyzer(t *testing.T) (agents *agentstest.Server, release func()) {
	hold := make(chan struct{})
	return agentstest.NewServer(t, agentstest.Hold(hold, agentstest.Succeed())), func() { close(hold) }
}

// heldService is the service on a data directory of its own, in front of an analyzer
// that holds every analysis until released: the set-up of the tests that interrupt a
// running analysis and start the service again.
type heldService struct {
	*server // the first life
	agents  *agentstest.Server
	// release lets the held analyses answer; it may be called more than once and is
	// called when the test ends.
	release func()
}

// startHeld starts a heldService with the settings given beside the analyzer's.
func startHeld(t *testing.T, settings ...string) *heldService {
	t.Helper()
	agents, release := heldAnalyzer(t)
	var once sync.Once
	h := &heldService{agents: agents, release: func() { once.Do(release) }}
	h.server = startServer(t, t.TempDir(), append([]string{"SCANLEDGER_ANALYZER=" + agents.URL}, settings...)...)
	// Registered after the server's stop, so it runs first: nothing is held while
	// the server shuts down.
	t.Cleanup(h.release)
	return h
}

// photos returns the real room photos from ../shared/data/photos.
func photos(t *testing.T) []file {
	t.Helper()
	dir := sharedDir(t, "data", "photos")
	var out []file
	for _, n := range []string{"room1-1.jpeg", "room2-1.jpg"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, file{"images", n, b})
	}
	return out
}

// repoRoot is the repository's root: the first directory above the test's with a go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// sharedDir finds ../shared beside the repository root.
func sharedDir(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{repoRoot(t), "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared test data missing: %v", err)
	}
	return p
}

// liveEvent is one SSE message.
type liveEvent struct {
	ID    int64
	Event string
	Data  map[string]any
}

// follow subscribes to the live stream with r3labs' SSE client (which resends
// Last-Event-ID when it reconnects) and delivers messages on the returned channel.
func (s *server) follow(ctx context.Context, tok, lastEventID, query string) <-chan liveEvent {
	s.t.Helper()
	c := sse.NewClient(s.base + "/api/v1/events" + query)
	c.Headers["Authorization"] = "Bearer " + tok
	if lastEventID != "" {
		c.LastEventID.Store([]byte(lastEventID))
	}
	out := make(chan liveEvent, 1024)
	connected := make(chan struct{})
	var once sync.Once
	c.OnConnect(func(*sse.Client) { once.Do(func() { close(connected) }) })
	go func() {
		_ = c.SubscribeRawWithContext(ctx, func(ev *sse.Event) {
			if len(ev.Event) == 0 && len(ev.Data) == 0 {
				return // a comment frame: "connected" or a heartbeat
			}
			var id int64
			fmt.Sscan(string(ev.ID), &id)
			le := liveEvent{ID: id, Event: string(ev.Event)}
			_ = json.Unmarshal(ev.Data, &le.Data)
			out <- le
		})
	}()
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		s.t.Fatal("live stream did not connect")
	}
	return out
}

// until collects live events until one named last arrives (or the deadline).
func until(t *testing.T, ch <-chan liveEvent, last string, within time.Duration) []liveEvent {
	t.Helper()
	var got []liveEvent
	deadline := time.After(within)
	for {
		select {
		case ev := <-ch:
			got = append(got, ev)
			if ev.Event == last {
				return got
			}
		case <-deadline:
			t.Fatalf("no %s within %s; got %+v", last, within, got)
		}
	}
}

// waitFor polls cond every 50ms until it holds, or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// envValue is key's value in env (KEY=value entries), or def when env does not set it.
func envValue(env []string, key, def string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return def
}
