package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
)

// The PWA creates its socket once, with the access token it had then, and
// socket.io-client never retries a refused CONNECT. A user whose access token expired
// while they watched a scan must still see it finish across a server restart: the
// reconnect presents the expired token of a live login session and is recovered with
// exactly the events it missed. Once the session is revoked (a password change), the
// same reconnect is refused.
func TestSocketIOKeepsLiveUpdatesAcrossAnExpiredTokenAndARestart(t *testing.T) {
	agents, release := heldAnalyzer(t)
	defer release()
	dataDir := t.TempDir()
	env := []string{"SCANLEDGER_ANALYZER=" + agents.URL, "SCANLEDGER_WORKER_LEASE=2s", "SCANLEDGER_ACCESS_TTL=1s"}
	srv := startServer(t, dataDir, env...)

	pwa := &pwaClient{t: t, srv: srv}
	email := fmt.Sprintf("grace.%d@example.com", time.Now().UnixNano())
	signed := pwa.auth("/auth/signup", fmt.Sprintf(`{"email":%q,"password":"secret1","firstName":"Grace","lastName":"Hopper"}`, email))
	sock := startPWASocket(t, srv.base, signed.AccessToken)
	sock.waitFor("connect", func(o sioObservation) bool { return o.Ev == "connect" })

	var created struct{ ScanID string }
	pwa.ok("POST", "/scans", `{}`, http.StatusCreated, &created)
	scanPath := "/api/v1/scans/" + created.ScanID
	if r := srv.upload(scanPath+"/images", srv.token(signed.User.ID, "user"), photos(t), nil); r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	pwa.ok("POST", "/scans/"+created.ScanID+"/process", `{}`, http.StatusCreated, nil)
	deadline := time.Now().Add(60 * time.Second)
	for agents.Calls() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the analysis never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sock.waitFor("the analysis progress event", func(o sioObservation) bool {
		return o.Ev == "event" && o.Event == "scan:progress"
	})

	// Wait until the socket's token is refused by the API, then crash the server.
	for srv.json("GET", "/api/v1/users/me", signed.AccessToken, "").Status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the access token never expired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	srv.kill()
	agents.SetBehaviours(agentstest.Succeed())
	// The client keeps its URL: the server comes back where it was.
	addr := strings.TrimPrefix(srv.base, "http://")
	srv2 := startServerAt(t, addr, dataDir, env...)

	re := sock.waitFor("the reconnect", connectOrRefusal)
	if re.Ev != "connect" || !re.Recovered {
		t.Fatalf("reconnect with the expired token of a live session: %s, want a recovered connect", re.line)
	}
	sock.waitFor("scan:completed", func(o sioObservation) bool { return o.Ev == "event" && o.Event == "scan:completed" })

	// Every offset from the first to the last arrives exactly once, in order.
	var ids []int64
	for _, o := range sock.seen {
		if o.Ev != "event" {
			continue
		}
		var offset string
		if len(o.Args) != 2 || json.Unmarshal(o.Args[1], &offset) != nil {
			t.Fatalf("event without an offset: %s", o.line)
		}
		id, err := strconv.ParseInt(offset, 10, 64)
		if err != nil {
			t.Fatalf("offset %q", offset)
		}
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("offsets not contiguous across the restart: %v", ids)
		}
	}

	// A password change ends every session: the next reconnect is refused.
	pwa2 := &pwaClient{t: t, srv: srv2}
	pwa2.auth("/auth/login", fmt.Sprintf(`{"email":%q,"password":"secret1"}`, email))

	// A paid analysis ran: the page's cost tile gets its figures (after the built-in
	// analyzer costSummary is null, see TestPWAContract).
	var got struct {
		Summary struct {
			CostSummary struct {
				Costs struct {
					TotalEstimatedUSD *float64 `json:"total_estimated_usd"`
				} `json:"costs"`
			} `json:"costSummary"`
		} `json:"summary"`
	}
	pwa2.ok("GET", "/scans/"+created.ScanID, "", http.StatusOK, &got)
	if got.Summary.CostSummary.Costs.TotalEstimatedUSD == nil {
		t.Fatal("costSummary.costs.total_estimated_usd missing after a paid analysis")
	}
	pwa2.ok("PATCH", "/users/me", `{"password":"secret2"}`, http.StatusOK, nil)
	srv2.stop()
	startServerAt(t, addr, dataDir, env...)
	if o := sock.waitFor("the refusal", connectOrRefusal); o.Ev != "connect_error" || o.Message != "Token expired" {
		t.Fatalf("reconnect of a revoked session: %s, want connect_error Token expired", o.line)
	}
}

// connectOrRefusal matches the server's answer to a CONNECT: a connect, or a
// connect_error the server sent (not the client's own "xhr poll error" while the
// server is down, after which it keeps retrying).
func connectOrRefusal(o sioObservation) bool {
	switch {
	case o.Ev == "connect":
		return true
	case o.Ev != "connect_error":
		return false
	}
	switch o.Message {
	case "Unauthorized", "Token expired", "Service unavailable":
		return true
	}
	return false
}

// pwaSocket is the PWA's socket.io-client (adapters/relay/testdata/sioclient.js) run
// by node.
type pwaSocket struct {
	t     *testing.T
	lines chan sioObservation
	seen  []sioObservation
}

type sioObservation struct {
	Ev        string            `json:"ev"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Recovered bool              `json:"recovered"`
	Message   string            `json:"message"`
	line      string
}

func startPWASocket(t *testing.T, base, tok string) *pwaSocket {
	t.Helper()
	dir := socketIOClientDir(t)
	cfg, _ := json.Marshal(map[string]any{"url": base, "namespace": "/scans", "token": tok})
	cmd := exec.Command("node", filepath.Join(dir, "sioclient.js"), string(cfg))
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	s := &pwaSocket{t: t, lines: make(chan sioObservation, 4096)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var o sioObservation
			if json.Unmarshal(sc.Bytes(), &o) != nil {
				o.Ev = "garbage"
			}
			o.line = sc.Text()
			s.lines <- o
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // the script disconnects and exits on EOF
		done := make(chan struct{})
		go func() {
			for range s.lines {
			}
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			var b bytes.Buffer
			for _, o := range s.seen {
				b.WriteString(o.line + "\n")
			}
			t.Logf("socket.io client observations:\n%s\nstderr: %s", b.String(), stderr.String())
		}
	})
	return s
}

// waitFor reads observations until one satisfies match.
func (s *pwaSocket) waitFor(what string, match func(sioObservation) bool) sioObservation {
	s.t.Helper()
	deadline := time.After(90 * time.Second)
	for {
		select {
		case o, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("the socket.io client exited while waiting for %s", what)
			}
			s.seen = append(s.seen, o)
			if match(o) {
				return o
			}
		case <-deadline:
			s.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// socketIOClientDir installs the relay tests' pinned socket.io-client with npm ci
// unless it is there already, and returns that directory.
func socketIOClientDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "adapters", "relay", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required on PATH: this test drives the PWA's socket.io-client")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "node_modules", "socket.io-client", "package.json"))
	var meta struct{ Version string }
	if err == nil && json.Unmarshal(raw, &meta) == nil && meta.Version == "4.8.1" {
		return dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}
