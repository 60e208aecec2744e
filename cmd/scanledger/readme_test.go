package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// README.md's commands work as written on a fresh checkout: every ```sh block that does
// not start the service with make is run by bash, from a directory laid out like the
// repository (bin/scanledger, ../shared beside it), against the real binary serving
// that directory's ./var. The only change is the server's address, since port 3000 may
// be taken on a test machine.
func TestREADMECommandsWorkAsWritten(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(string(raw))
	if len(blocks) == 0 {
		t.Fatal("README.md has no shell block to run")
	}

	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(repo, "bin", "scanledger")); err != nil {
		t.Fatal(err)
	}
	shared, err := filepath.Abs(sharedDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(root, "shared")); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, filepath.Join(repo, "var")) // what `make run` starts

	for i, block := range blocks {
		script := strings.ReplaceAll(block, "http://127.0.0.1:3000", srv.base)
		stdout, stderr, err := run(repo, []string{"SCANLEDGER_SERVER=" + srv.base}, "bash", "-euo", "pipefail", "-c", script)
		out := stdout + stderr
		if err != nil {
			t.Fatalf("README block %d failed: %v\n%s\n--- output:\n%s", i+1, err, block, out)
		}
		t.Logf("README block %d:\n%s", i+1, out)
		// The scan just made is the one listed, by the table and by the API.
		if strings.Contains(block, "scanledger scan ") && strings.Count(out, "12 Harbour Road") < 2 {
			t.Fatalf("README block %d: the new scan is not listed:\n%s", i+1, out)
		}
	}
}

// shellBlocks returns README's ```sh blocks, except those that run make (they start
// the service or the whole test suite).
func shellBlocks(md string) []string {
	var out []string
	for rest := md; ; {
		i := strings.Index(rest, "```sh\n")
		if i < 0 {
			return out
		}
		rest = rest[i+len("```sh\n"):]
		j := strings.Index(rest, "```")
		if j < 0 {
			return out
		}
		block := rest[:j]
		rest = rest[j+3:]
		if strings.HasPrefix(strings.TrimSpace(block), "make ") {
			continue
		}
		out = append(out, block)
	}
}
