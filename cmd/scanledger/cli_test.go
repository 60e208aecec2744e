package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/internal/logtest"
)

// cli runs a client command of the binary in dir with a bounded time.
func cli(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return run(dir, env, binary, args...)
}

// run runs a program in dir, with env added to the test's, for three minutes at most.
func run(dir string, env []string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func copyPhoto(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir(t, "data", "photos"), "room1-1.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A scan of files that are not photos is refused before anything is created, naming
// each file and why; one the server refuses after the scan was created removes the
// scan again. Either way the user's list stays empty.
func TestScanWithBadPhotosLeavesNothingBehind(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, "SCANLEDGER_UPLOAD_MAX_BYTES=1000")
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "notes.jpg"), []byte("not a photo at all"), 0o600)
	os.WriteFile(filepath.Join(work, "empty.jpg"), nil, 0o600)
	os.Mkdir(filepath.Join(work, "album"), 0o700)
	copyPhoto(t, work, "big.jpg")
	at := []string{"--server", srv.base, "--data-dir", dataDir}

	_, stderr, err := cli(t, work, nil, append([]string{"scan"}, append(at, "missing.jpg", "album", "notes.jpg", "empty.jpg")...)...)
	if err == nil {
		t.Fatal("scan of no photos succeeded")
	}
	for _, want := range []string{"missing.jpg: no such file", "album: is a folder", "notes.jpg: not a photo", "empty.jpg: empty file"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "created") || strings.Contains(stderr, "POST") {
		t.Errorf("the refusal reads like internals or created something:\n%s", stderr)
	}

	// Flags after the photos count as flags; the server refuses the 1000-byte limit.
	stdout, stderr, err := cli(t, work, nil, append([]string{"scan", "big.jpg"}, append(at, "--max-photo-bytes", "100000000")...)...)
	if err == nil || !strings.Contains(stderr, "was removed again") {
		t.Fatalf("an upload the server refused: err %v\n%s%s", err, stdout, stderr)
	}

	// The list is the read model, which takes the removal a moment after the command.
	waitFor(t, 30*time.Second, "an empty list of scans after the failed runs", func() bool {
		stdout, stderr, err = cli(t, work, nil, append([]string{"scans"}, at...)...)
		if err != nil {
			t.Fatalf("scans: %v\n%s%s", err, stdout, stderr)
		}
		return strings.Contains(stdout, "no scans yet")
	})
}

// Client commands run away from the server's data dir never make up a secret: they say
// where they looked and how to point them at the server.
func TestClientCommandsNeverCreateASecret(t *testing.T) {
	srv := startServer(t, t.TempDir())
	elsewhere := t.TempDir()
	photo := copyPhoto(t, elsewhere, "photo.jpg")
	for _, args := range [][]string{
		{"scans", "--server", srv.base},
		{"scan", "--server", srv.base, photo},
		{"token", "--user", "0d5b7e3e-8a61-4f5e-b7a5-1a2b3c4d5e6f"},
	} {
		_, stderr, err := cli(t, elsewhere, nil, args...)
		if err == nil {
			t.Fatalf("%v succeeded without the server's secret", args)
		}
		if !strings.Contains(stderr, filepath.Join(elsewhere, "var", "secret.key")) && !strings.Contains(stderr, "secret.key") {
			t.Errorf("%v does not say where it looked:\n%s", args, stderr)
		}
		if args[0] != "token" && !strings.Contains(stderr, "--data-dir") {
			t.Errorf("%v does not say how to point at the server:\n%s", args, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "var")); !os.IsNotExist(err) {
		t.Fatalf("a client command created %s/var: %v", elsewhere, err)
	}
}

// The server restarting while `scan` follows its progress does not leave the CLI
// waiting: it resumes the stream or reads the scan, and prints the result.
func TestScanFinishesAcrossAServerRestart(t *testing.T) {
	srv := startHeld(t, "SCANLEDGER_WORKER_LEASE=2s")
	work := t.TempDir()
	copyPhoto(t, work, "photo.jpg")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "scan", "--server", srv.base, "--data-dir", srv.dataDir, "--timeout", "150s", "photo.jpg")
	cmd.Dir = work
	var out, errOut logtest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for srv.agents.Calls() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the analysis never started:\n%s%s", out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.kill()
	srv.agents.SetBehaviours(agentstest.Succeed())
	srv.restart()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), ": succeeded") {
			t.Fatalf("scan after a restart: %v\n%s%s", err, out.String(), errOut.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("scan still waiting two minutes after the restart:\n%s%s", out.String(), errOut.String())
	}
	// stderr is no terminal here: plain lines, each state once.
	if n := strings.Count(errOut.String(), "100% Complete"); n != 1 || strings.Contains(errOut.String(), "\r") {
		t.Errorf("progress on a non-terminal (100%% Complete %d times):\n%q", n, errOut.String())
	}
}

// Rights beyond a user's come from the stored role: a token for a role the user does
// not hold is refused, saying how to grant it, instead of silently granting nothing.
// Commands given nothing to act on say how to call them.
func TestSmallCommandsSayWhatIsWrong(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	pwa := &pwaClient{t: t, srv: srv}
	email := "ops@example.com"
	user := pwa.auth("/auth/signup", `{"email":"`+email+`","password":"secret1","firstName":"Ops","lastName":"Person"}`).User.ID
	work := t.TempDir()
	at := []string{"--data-dir", dataDir}

	_, stderr, err := cli(t, work, nil, append([]string{"token", "--user", "0d5b7e3e-8a61-4f5e-b7a5-1a2b3c4d5e6f", "--role", "admin"}, at...)...)
	if err == nil || !strings.Contains(stderr, "no account") {
		t.Errorf("admin token for an unknown user: %v %s", err, stderr)
	}
	_, stderr, err = cli(t, work, nil, append([]string{"token", "--user", user, "--role", "admin"}, at...)...)
	if err == nil || !strings.Contains(stderr, "scanledger role") {
		t.Errorf("admin token for a plain user: %v %s", err, stderr)
	}
	if _, stderr, err := cli(t, work, nil, append([]string{"role", "--email", email, "--role", "admin"}, at...)...); err != nil {
		t.Fatalf("role: %v %s", err, stderr)
	}
	if _, stderr, err := cli(t, work, nil, append([]string{"token", "--user", user, "--role", "admin"}, at...)...); err != nil {
		t.Errorf("admin token for an admin: %v %s", err, stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"role"}, "usage: scanledger role --email"},
		{[]string{"config", "--bogus"}, "config takes no arguments"},
		{[]string{"revoke", "stray", "--email", email}, "revoke takes no arguments"},
		{[]string{"verify", "some-scan-id"}, "verify takes no arguments"},
		{[]string{"token", "--jwt-secret", "short", "--user", user}, "--jwt-secret"},
	} {
		_, stderr, err := cli(t, work, nil, tc.args...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: %v, want %q in:\n%s", tc.args, err, tc.want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "var")); !os.IsNotExist(err) {
		t.Errorf("a command created %s/var", work)
	}
}
