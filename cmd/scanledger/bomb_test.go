package main_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/builtin/builtintest"
	"github.com/scanledger/scanledger/domain"
)

// decodeBudget is the built-in analyzer's decode budget (adapters/builtin: fixed,
// docs/operations.md "Limits"): all decodes running at once in one process share it.
const decodeBudget = 256 << 20

// Four 7071×7071 16-bit RGBA PNGs (under the 50-megapixel cap, ~380 kB each, ~400 MB
// each decoded) uploaded by one account and analysed at once, four workers: the
// server's peak resident memory stays within what it had before the uploads plus the
// decode budget plus room for the requests. Before the decode budget counted bytes,
// the same four took the server from 69 MiB to 2.2 GB.
func TestDecompressionBombsKeepTheServersPeakMemoryWithinTheDecodeBudget(t *testing.T) {
	bomb := builtintest.BombPNG(7071, 7071)
	srv := startBinary(t, binaryToMeasure(t), "127.0.0.1:0", t.TempDir(), "SCANLEDGER_WORKERS=4")
	tok := srv.token(domain.NewID(), "user")
	before := vmHWM(t, srv.cmd.Process.Pid)

	var paths []string
	for i := range 4 {
		var created struct{ ScanID string }
		r := srv.json("POST", "/api/v1/scans", tok, fmt.Sprintf(`{"address":"%d Bomb Street"}`, i+1))
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		r.data(t, &created)
		path := "/api/v1/scans/" + created.ScanID
		if r := srv.upload(path+"/images", tok, []file{{"images", "bomb.png", bomb}}, nil); r.Status != 201 {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		paths = append(paths, path)
	}
	for _, path := range paths { // processing starts for all four together
		if r := srv.json("POST", path+"/process", tok, `{}`); r.Status != 201 {
			t.Fatalf("process: %d %s", r.Status, r.Body)
		}
	}
	for _, path := range paths {
		waitFor(t, 120*time.Second, "the bomb's scan to end", func() bool {
			var got struct{ Status string }
			srv.do("GET", path, tok, "", nil).data(t, &got)
			return got.Status == "failed" || got.Status == "succeeded"
		})
	}
	after := vmHWM(t, srv.cmd.Process.Pid)
	t.Logf("bomb: %d bytes; server peak RSS (VmHWM) %d MiB before the uploads, %d MiB after four bombs analysed at once",
		len(bomb), before>>20, after>>20)
	if bound := before + decodeBudget + 128<<20; after > bound {
		t.Fatalf("peak RSS %d MiB is over %d MiB (before the uploads + the %d MiB decode budget + 128 MiB)",
			after>>20, bound>>20, decodeBudget>>20)
	}
}

// binaryToMeasure is the binary whose memory a test measures: the one built for the
// tests, or without -race when they run with it (its shadow memory would be measured too).
func binaryToMeasure(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return binary
	}
	bin := filepath.Join(t.TempDir(), "scanledger")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build without -race: %v\n%s", err, out)
	}
	return bin
}

// vmHWM is a process's peak resident set, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	n, err := builtintest.PeakRSS(strconv.Itoa(pid))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
