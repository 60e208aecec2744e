package main_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// gateway is an S3 server of the test's own (versitygw, as built by `make test`), so
// the test can take it away and bring it back on the same port and data.
type gateway struct {
	t         *testing.T
	bin, data string
	addr      string
	cmd       *exec.Cmd
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	bin := filepath.Join(repoRoot(t), ".tools", "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("versitygw is missing (%v): run the tests with `make test`", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	g := &gateway{t: t, bin: bin, data: t.TempDir(), addr: addr}
	g.start()
	t.Cleanup(g.kill)
	return g
}

func (g *gateway) start() {
	g.t.Helper()
	g.cmd = exec.Command(g.bin, "--quiet", "--port", g.addr, "posix", g.data)
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=outagetestkey", "ROOT_SECRET_ACCESS_KEY=outagetestsecret0123456789")
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	waitFor(g.t, 30*time.Second, "the S3 gateway to listen", func() bool {
		c, err := net.Dial("tcp", g.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// kill takes the gateway away at once (SIGKILL).
func (g *gateway) kill() {
	if g.cmd != nil && g.cmd.Process != nil && g.cmd.ProcessState == nil {
		_ = g.cmd.Process.Kill()
		_ = g.cmd.Wait()
	}
}

func (g *gateway) env() []string {
	bucket := "outage-" + strings.ReplaceAll(domain.NewID(), "-", "")[:16]
	return []string{
		"SCANLEDGER_BLOBS=s3://" + bucket,
		"SCANLEDGER_S3_ENDPOINT=" + g.addr,
		"SCANLEDGER_S3_ACCESS_KEY=outagetestkey",
		"SCANLEDGER_S3_SECRET_KEY=outagetestsecret0123456789",
		fmt.Sprintf("SCANLEDGER_S3_PUBLIC_URL=http://%s", g.addr),
	}
}

// With the photo store gone, uploads are refused with 503 and Retry-After while the
// rest of the service goes on; once it is back, uploads work again by themselves, and
// every photo upload that was acknowledged is there.
func TestS3OutageIsSurvived(t *testing.T) {
	gw := startGateway(t)
	srv := startServer(t, t.TempDir(), gw.env()...)
	toks := []string{srv.token(domain.NewID(), "user"), srv.token(domain.NewID(), "user")}
	w := newWriters(t, srv.base, toks)
	w.start()
	uploads := func() int { return len(w.uploads()) }
	n := uploads()
	waitFor(t, 60*time.Second, "photo uploads", func() bool { return uploads() >= n+10 })

	gw.kill()
	refused := w.unavailable()
	waitFor(t, 30*time.Second, "uploads to be refused with 503", func() bool {
		if bad := w.failures(); len(bad) > 0 {
			t.Fatalf("while S3 is away: %v", bad[:min(len(bad), 5)])
		}
		return w.unavailable() > refused
	})
	time.Sleep(3 * time.Second)
	select {
	case <-srv.done:
		t.Fatalf("the server exited while S3 was away:\n%s", srv.logs.String())
	default:
	}

	gw.start()
	back := time.Now()
	n = uploads()
	waitFor(t, 60*time.Second, "uploads to be acknowledged again", func() bool { return uploads() > n })
	t.Logf("uploads acknowledged again %s after S3 came back", time.Since(back).Round(time.Millisecond))
	n = uploads()
	waitFor(t, 60*time.Second, "more photo uploads", func() bool { return uploads() >= n+10 })
	w.stop()
	if bad := w.failures(); len(bad) > 0 {
		t.Fatalf("requests that were neither acknowledged nor refused with 503 and Retry-After (%d): %v", len(bad), bad[:min(len(bad), 10)])
	}

	uploaded := w.uploads()
	for user, ids := range w.created() {
		for _, id := range ids {
			if !uploaded[id] {
				continue
			}
			waitFor(t, 30*time.Second, "acknowledged photo of "+id, func() bool {
				st, images := scanImages(srv.base, id, toks[user])
				return st == http.StatusOK && images > 0
			})
		}
	}
	t.Logf("%d photo uploads acknowledged, %d requests refused with 503", len(uploaded), w.unavailable())
}
