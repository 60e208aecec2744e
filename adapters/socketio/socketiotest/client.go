// Package socketiotest runs the PWA's socket.io-client (the pinned versions, under
// node) against a Socket.IO server under test and hands the test what the client
// observes, so that the tests of socketio and of relay drive the same real client.
package socketiotest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"
)

// Require installs testdata's pinned socket.io-client with npm ci unless node_modules
// already holds the pinned versions, and returns the testdata directory.
func Require(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("socketiotest: cannot locate its testdata")
	}
	dir := filepath.Join(filepath.Dir(file), "testdata")
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required on PATH: these tests drive the PWA's socket.io-client")
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

// Observation is one line of testdata/client.js's report.
type Observation struct {
	Ev        string            `json:"ev"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Transport string            `json:"transport"`
	Recovered bool              `json:"recovered"`
	PID       string            `json:"pid"`
	ID        string            `json:"id"`
	Reason    string            `json:"reason"`
	Message   string            `json:"message"`
	line      string
}

func (o Observation) String() string { return o.line }

// IsEv matches the observations of one kind ("connect", "event", ...).
func IsEv(ev string) func(Observation) bool {
	return func(o Observation) bool { return o.Ev == ev }
}

// Options are what the client is started with.
type Options struct {
	URL       string `json:"url"`
	Namespace string `json:"namespace"`
	Token     string `json:"token"`
	// Transports, when set, replaces socket.io-client's default (polling, then upgrade).
	Transports []string `json:"transports,omitempty"`
	// Auth holds extra fields of the CONNECT auth object (a forged pid, say).
	Auth map[string]any `json:"auth,omitempty"`
	// NoReconnection turns the client's automatic reconnection off.
	NoReconnection bool `json:"noReconnection,omitempty"`
}

// Client is a running testdata/client.js.
type Client struct {
	t      *testing.T
	stdin  io.WriteCloser
	lines  chan Observation
	seen   []Observation
	stderr *bytes.Buffer
}

// ErrExited is Next's error once the client has exited and its report is read.
var ErrExited = errors.New("socket.io client exited")

// Start runs the client until the test ends; its observations are logged when the test
// fails.
func Start(t *testing.T, opts Options) *Client {
	t.Helper()
	dir := Require(t)
	cfg, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(dir, "client.js"), string(cfg))
	cmd.Dir = dir
	c := &Client{t: t, lines: make(chan Observation, 8192), stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	stdin, stdout := startPiped(t, cmd)
	c.stdin = stdin
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var o Observation
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				o = Observation{Ev: "garbage"}
			}
			o.line = sc.Text()
			c.lines <- o
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() {
			for range c.lines {
			}
			<-read
			done <- cmd.Wait()
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("socket.io client observations:\n%s\nclient stderr: %s", c.seen, c.stderr)
		}
	})
	return c
}

// Command sends one of client.js's commands.
func (c *Client) Command(cmd string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		c.t.Fatalf("command %q: %v", cmd, err)
	}
}

// Next reads the next observation, waiting at most timeout. The error is ErrExited
// when the client has exited, os.ErrDeadlineExceeded when nothing came in time.
func (c *Client) Next(timeout time.Duration) (Observation, error) {
	select {
	case o, ok := <-c.lines:
		if !ok {
			return Observation{}, ErrExited
		}
		c.seen = append(c.seen, o)
		return o, nil
	case <-time.After(timeout):
		return Observation{}, os.ErrDeadlineExceeded
	}
}

// WaitFor reads observations until one satisfies match and returns it.
func (c *Client) WaitFor(what string, timeout time.Duration, match func(Observation) bool) Observation {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		o, err := c.Next(time.Until(deadline))
		switch {
		case errors.Is(err, ErrExited):
			c.t.Fatalf("client exited while waiting for %s", what)
		case err != nil:
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case match(o):
			return o
		}
	}
}

// Events waits for n events and returns them.
func (c *Client) Events(n int, timeout time.Duration) []Observation {
	c.t.Helper()
	var evs []Observation
	for len(evs) < n {
		evs = append(evs, c.WaitFor(fmt.Sprintf("event %d of %d", len(evs)+1, n), timeout, IsEv("event")))
	}
	return evs
}

// Quiet collects observations for d: used only to show that nothing more comes.
func (c *Client) Quiet(d time.Duration) []Observation {
	var got []Observation
	deadline := time.Now().Add(d)
	for {
		o, err := c.Next(time.Until(deadline))
		if err != nil {
			return got
		}
		got = append(got, o)
	}
}

// Seen returns every observation read so far, in order.
func (c *Client) Seen() []Observation { return c.seen }

// Saw reports whether an observation already read satisfies match.
func (c *Client) Saw(match func(Observation) bool) bool {
	return slices.ContainsFunc(c.seen, match)
}

// SawOrWait returns at once when an observation already read satisfies match, or
// waits for one, for observations whose order relative to others is not fixed.
func (c *Client) SawOrWait(what string, timeout time.Duration, match func(Observation) bool) {
	c.t.Helper()
	if !c.Saw(match) {
		c.WaitFor(what, timeout, match)
	}
}

// startPiped starts cmd with pipes to its stdin and from its stdout.
func startPiped(t testing.TB, cmd *exec.Cmd) (io.WriteCloser, io.Reader) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", filepath.Base(cmd.Path), err)
	}
	return stdin, stdout
}

// SameJSON reports whether got and want hold the same JSON value, as a test compares
// the data a client received with what was sent.
func SameJSON(t testing.TB, got, want json.RawMessage) bool {
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
