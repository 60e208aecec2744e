package main_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/scanledger/scanledger/domain"
)

// A 50 MB upload (five 10 MB photos in one multipart body) is streamed to the photo
// store, never held whole: the server's peak resident memory grows by less than 16 MiB.
// The photos are a real room photo with padding after its end marker, as some cameras
// write, so that every byte goes through the upload path.
func TestA50MBUploadAddsLessThan16MiBToTheServersPeakMemory(t *testing.T) {
	real, err := os.ReadFile(filepath.Join(sharedDir(t, "data", "photos"), "room1-1.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	const photoSize = 10 << 20
	photo := append(bytes.Clone(real), make([]byte, photoSize-len(real))...)
	var files []file
	for i := range 5 {
		files = append(files, file{"images", fmt.Sprintf("room%d.jpeg", i+1), photo})
	}

	srv := startBinary(t, binaryToMeasure(t), "127.0.0.1:0", t.TempDir())
	tok := srv.token(domain.NewID(), "user")
	// A first small upload warms the path (pools, the store's directories) so that what
	// is measured is what the size of the body costs.
	scan := func() string {
		var created struct{ ScanID string }
		r := srv.json("POST", "/api/v1/scans", tok, `{"address":"1 Upload Street"}`)
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		r.data(t, &created)
		return "/api/v1/scans/" + created.ScanID + "/images"
	}
	if r := srv.upload(scan(), tok, []file{{"images", "warm.jpeg", real}}, nil); r.Status != 201 {
		t.Fatalf("warm-up upload: %d %s", r.Status, r.Body)
	}
	before := vmHWM(t, srv.cmd.Process.Pid)
	if r := srv.upload(scan(), tok, files, nil); r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	after := vmHWM(t, srv.cmd.Process.Pid)
	t.Logf("a %d MB upload: server peak RSS (VmHWM) %.1f MiB before, %.1f MiB after (+%.1f MiB)",
		5*photoSize>>20, float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/(1<<20))
	if grown := after - before; grown >= 16<<20 {
		t.Fatalf("the upload added %.1f MiB to the peak RSS, want less than 16 MiB", float64(grown)/(1<<20))
	}
}
