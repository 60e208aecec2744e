package main_test

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Two servers on one data dir would both write its SQLite files and fight over the
// projections' checkpoints: the second is refused at start, with a message naming the
// directory, and the first carries on untouched.
func TestASecondServerOnTheSameDataDirIsRefused(t *testing.T) {
	dataDir := t.TempDir()
	first := startServer(t, dataDir)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the second server kept running on a data dir in use:\n%s", out)
	}
	if err == nil {
		t.Fatalf("the second server exited 0:\n%s", out)
	}
	if !strings.Contains(string(out), "in use") || !strings.Contains(string(out), dataDir) {
		t.Fatalf("the refusal does not say the data dir is in use:\n%s", out)
	}
	if r := first.do("GET", "/readyz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("the first server: /readyz %d %s", r.Status, r.Body)
	}

	// Once the first is gone, the directory is free again.
	first.stop()
	startServer(t, dataDir)
}
