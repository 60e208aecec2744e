package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAnExportVerifiesOfflineAndFailsOnAnyChange(t *testing.T) {
	dir := t.TempDir()
	seedScans(t, dir, 3)
	key, err := runCmd(t, "audit", "key", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	pub := strings.Fields(key)[0]
	file := filepath.Join(t.TempDir(), "export.ndjson")
	if out, err := runCmd(t, "export", "--data-dir", dir, "--out", file); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	// No database: the data dir is gone.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "verify", "--file", file, "--public-key", pub)
	if err != nil || !strings.Contains(out, "3 streams, 6 events, 0 broken, sealed at ") || strings.Contains(out, "WARNING") {
		t.Fatalf("verify --file: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "verify", "--file", file); err != nil || !strings.Contains(out, "WARNING: checked with the key inside the file") {
		t.Fatalf("verify --file without a pinned key: %v\n%s", err, out)
	}
	orig, _ := os.ReadFile(file)
	if strings.Contains(string(orig), "1 Main St") {
		t.Fatal("the export holds an address in clear")
	}
	lines := strings.SplitAfter(string(orig), "\n")
	changes := map[string]func() string{
		// The address is stored sealed; its ciphertext is data like any other.
		"an address in an event": func() string {
			i := strings.Index(string(orig), `"box":"`) + len(`"box":"`)
			flip := "A"
			if orig[i] == 'A' {
				flip = "B"
			}
			return string(orig[:i]) + flip + string(orig[i+1:])
		},
		"a user id in metadata": func() string {
			i := strings.Index(string(orig), `"userId":"u1"`)
			return string(orig[:i]) + `"userId":"u2"` + string(orig[i+len(`"userId":"u1"`):])
		},
		"one event dropped":   func() string { return strings.Join(append(append([]string{}, lines[:3]...), lines[4:]...), "") },
		"the last line cut":   func() string { return strings.Join(lines[:len(lines)-2], "") },
		"a whitespace change": func() string { return strings.Replace(string(orig), `{"kind":"event"`, `{ "kind":"event"`, 1) },
		"another key's file":  func() string { return strings.Replace(string(orig), pub, strings.Repeat("ab", 32), 1) },
	}
	for name, change := range changes {
		changed := change()
		if changed == string(orig) {
			t.Fatalf("%s: no change made", name)
		}
		f := filepath.Join(t.TempDir(), "changed.ndjson")
		if err := os.WriteFile(f, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runCmd(t, "verify", "--file", f, "--public-key", pub); err == nil {
			t.Errorf("%s: verify --file passed\n%s", name, out)
		}
	}
	// One scan's export holds only that scan.
	dir2 := t.TempDir()
	ids := seedScans(t, dir2, 2)
	var one bytes.Buffer
	if err := run(t.Context(), []string{"export", "--data-dir", dir2, "--scan", ids[1]}, &one, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(one.String(), ids[1]) || strings.Contains(one.String(), ids[0]) {
		t.Fatalf("export --scan:\n%s", one.String())
	}
}
