package httpapi_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smallFS mounts a tmpfs of size bytes and returns its path. As root it mounts directly;
// otherwise the test re-runs itself as root of a private user and mount namespace
// (unshare -rm), where mounting a tmpfs needs no privilege; then ok is false and the
// caller returns (the child's result is this test's result).
func smallFS(t *testing.T, size int) (dir string, ok bool) {
	t.Helper()
	if os.Getenv("SCANLEDGER_TEST_IN_NS") == "" && os.Geteuid() != 0 {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Fatalf("a small file system needs root or unshare(1): %v", err)
		}
		cmd := exec.Command(unshare, "-rm", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "SCANLEDGER_TEST_IN_NS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a private namespace:\n%s", out)
		if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
			t.Fatalf("in a private namespace: %v", err)
		}
		return "", false
	}
	dir = t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir, true
}

// A full disk is the server's problem, not the client's: the upload is refused with
// 507 Insufficient Storage, the failure is logged, and nothing of it is left behind.
// A body the client breaks stays a 400.
func TestDiskFullIsInsufficientStorageNotABadRequest(t *testing.T) {
	dir, ok := smallFS(t, 1<<20) // 1 MiB: one real 1.1 MB photo does not fit
	if !ok {
		return
	}
	api := newHardenedAPI(t, filepath.Join(dir, "blobs"), nil)
	bearer := api.signup("full@example.com").AccessToken
	scanID := api.newScan(bearer, "1 Test Street")
	body, contentType := photoForm(t, "room1-1.jpeg", "")
	r := api.do("POST", "/scans/"+scanID+"/images", bearer, contentType, body)
	r.want(t, http.StatusInsufficientStorage)
	if !strings.Contains(api.logs.String(), "no space left on device") {
		t.Fatalf("the failure is not logged:\n%s", api.logs.String())
	}
	var left []string
	filepath.Walk(filepath.Join(dir, "blobs"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("a failed upload left files: %v", left)
	}

	// A truncated body is still the client's fault.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("images", "room2-1.jpg")
	small, _ := os.ReadFile(sharedPhoto(t, "room2-1.jpg"))
	w.Write(small[:len(small)/2])
	api.do("POST", "/scans/"+scanID+"/images", bearer, mw.FormDataContentType(), &buf).want(t, http.StatusBadRequest)
}
