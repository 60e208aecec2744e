package main_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	be "encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
	bomb := bombPNG(t, 7071, 7071)
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

// vmHWM is a process's peak resident set, in bytes, from /proc/PID/status.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("peak RSS needs /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// bombPNG is a valid w×h 16-bit RGBA PNG of zeros: a few hundred kB that decodes to
// w×h×8 bytes. The rows are compressed as they are made, never held whole.
func bombPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		be.Write(&out, be.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		out.WriteString(typ)
		out.Write(data)
		be.Write(&out, be.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	be.BigEndian.PutUint32(ihdr[0:], uint32(w))
	be.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // 16-bit, RGBA
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 1+w*8) // filter byte 0, then zeros
	for range h {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}
