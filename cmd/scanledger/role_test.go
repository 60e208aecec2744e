package main

import (
	"strings"
	"testing"
)

// role, revoke and migrate change rows in the database and open nothing else: a photo
// store or an analyzer that cannot be reached does not stop them, where serve refuses
// to start.
func TestRoleRevokeAndMigrateOpenOnlyTheDatabase(t *testing.T) {
	dir := t.TempDir()
	signUpIn(t, dir, "ada@example.com")

	// Nothing listens on port 1: opening the photo store would fail. The settings come
	// from the environment, as in a deployment where every command shares it.
	t.Setenv("SCANLEDGER_BLOBS", "s3://photos")
	t.Setenv("SCANLEDGER_S3_ENDPOINT", "127.0.0.1:1")
	unreachable := []string{"--data-dir", dir}
	if _, err := runCmd(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, unreachable...)...); err == nil {
		t.Fatal("serve started with an unreachable photo store; this test needs one it cannot open")
	}
	for _, args := range [][]string{
		{"role", "--email", "ada@example.com", "--role", "analyst"},
		{"revoke", "--email", "ada@example.com"},
		{"migrate"},
	} {
		out, err := runCmd(t, append(args, unreachable...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", args[0], err, out)
		}
		if out == "" || strings.Contains(out, "listening") {
			t.Fatalf("%s printed %q", args[0], out)
		}
	}
}
