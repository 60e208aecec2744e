package main_test

import (
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// Killing the server (SIGKILL) in the middle of an upload leaves photos that no event
// references: one stored whole and one half-written temporary file. After a restart the
// periodic sweep removes them once they are older than the grace period, and never
// touches the photos of the scan's recorded upload.
func TestCrashMidUploadLeavesNoOrphanPhotosAfterTheSweep(t *testing.T) {
	srv := startServer(t, t.TempDir(), "SCANLEDGER_PHOTO_SWEEP_INTERVAL=200ms", "SCANLEDGER_PHOTO_SWEEP_GRACE=2s")
	tok := srv.token(domain.NewID(), "user")
	var created struct{ ScanID string }
	srv.json("POST", "/api/v1/scans", tok, `{}`).data(t, &created)
	scanPath := "/api/v1/scans/" + created.ScanID
	pics := photos(t)
	if r := srv.upload(scanPath+"/images", tok, pics, nil); r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	scanDir := filepath.Join(srv.dataDir, "blobs", "scans", created.ScanID)
	kept := uploadDirs(t, scanDir)
	if len(kept) != 1 {
		t.Fatalf("after one upload: upload directories %v, want one", kept)
	}
	keptFiles := filesIn(t, filepath.Join(scanDir, kept[0]))

	// A second upload sends its first photo whole and half of the second, then stalls.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.base+scanPath+"/images", pr)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	w, _ := mw.CreateFormFile("images", pics[0].name)
	w.Write(pics[0].data)
	w, _ = mw.CreateFormFile("images", pics[1].name)
	w.Write(pics[1].data[:len(pics[1].data)/2])
	var orphan string
	deadline := time.Now().Add(60 * time.Second)
	for orphan == "" {
		if time.Now().After(deadline) {
			t.Fatal("the stalled upload never stored its first photo and a partial")
		}
		time.Sleep(20 * time.Millisecond)
		for _, d := range uploadDirs(t, scanDir) {
			if d == kept[0] {
				continue
			}
			names := filesIn(t, filepath.Join(scanDir, d))
			var whole, partial bool
			for _, n := range names {
				if strings.HasPrefix(n, ".tmp-") {
					partial = true
				} else {
					whole = true
				}
			}
			if whole && partial {
				orphan = d
			}
		}
	}
	srv.kill()
	pw.CloseWithError(io.ErrClosedPipe)

	srv2 := srv.restart()
	defer srv2.stop()
	deadline = time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(scanDir, orphan)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orphan upload %s is still there after 60 s:\n%s", orphan, srv2.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := uploadDirs(t, scanDir); len(got) != 1 || got[0] != kept[0] {
		t.Errorf("upload directories after the sweep: %v, want only the recorded %s", got, kept[0])
	}
	if got := filesIn(t, filepath.Join(scanDir, kept[0])); strings.Join(got, ",") != strings.Join(keptFiles, ",") {
		t.Errorf("the recorded upload's photos are %v after the sweep, were %v", got, keptFiles)
	}
	// The recorded photos still serve.
	var sc struct {
		Rooms []struct {
			Images []struct{ URL string }
		}
	}
	srv2.json("GET", scanPath, tok, "").data(t, &sc)
	n := 0
	for _, r := range sc.Rooms {
		for _, im := range r.Images {
			resp, err := http.Get(im.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET a recorded photo: %d", resp.StatusCode)
			}
			n++
		}
	}
	if n != len(pics) {
		t.Errorf("the scan shows %d photos, want %d", n, len(pics))
	}
}

// uploadDirs lists the upload directories of a scan's photo directory.
func uploadDirs(t *testing.T, scanDir string) []string {
	return namesIn(t, scanDir, fs.DirEntry.IsDir)
}

// filesIn lists everything in dir.
func filesIn(t *testing.T, dir string) []string {
	return namesIn(t, dir, func(fs.DirEntry) bool { return true })
}

// namesIn lists the names of the entries of dir that keep takes (none if dir does not
// exist).
func namesIn(t *testing.T, dir string, keep func(fs.DirEntry) bool) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if keep(e) {
			out = append(out, e.Name())
		}
	}
	return out
}
