package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// The photo sweep removes exactly the uploads no event references once they are older
// than the grace: an orphan beside a scan's recorded upload, and whatever is left of a
// deleted scan. The recorded upload, however old, and an orphan-looking upload written
// within the grace (one still in progress) are kept.
func TestSweepRemovesOnlyOldUploadsNoEventReferences(t *testing.T) {
	blobDir := filepath.Join(t.TempDir(), "blobs")
	api := newHardenedAPI(t, blobDir, nil)
	bearer := api.signup("sweep@example.com").AccessToken
	kept := api.createScan(bearer)
	gone := api.createScan(bearer)
	api.do("DELETE", "/scans/"+gone, bearer, "", nil).want(t, http.StatusOK)

	photo, err := os.ReadFile(sharedPhoto(t, "room1-1.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	scans := filepath.Join(blobDir, "scans")
	recorded, err := os.ReadDir(filepath.Join(scans, kept))
	if err != nil || len(recorded) != 1 {
		t.Fatalf("the recorded upload: %v %v", recorded, err)
	}
	write := func(scanID string, age time.Duration) string {
		dir := filepath.Join(scans, scanID, domain.NewID())
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{domain.NewID(), ".tmp-partial"} {
			f := filepath.Join(dir, name)
			if err := os.WriteFile(f, photo, 0o640); err != nil {
				t.Fatal(err)
			}
			at := time.Now().Add(-age)
			if err := os.Chtimes(f, at, at); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	old := 2 * time.Hour
	orphan := write(kept, old)
	inProgress := write(kept, time.Minute)
	leftOfDeleted := write(gone, old)
	// The recorded photos are as old as the orphans.
	recordedDir := filepath.Join(scans, kept, recorded[0].Name())
	files, _ := os.ReadDir(recordedDir)
	for _, f := range files {
		at := time.Now().Add(-old)
		os.Chtimes(filepath.Join(recordedDir, f.Name()), at, at)
	}

	removed, err := api.api.SweepOrphanPhotos(t.Context(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2 {
		t.Errorf("removed %d uploads, want 2", removed)
	}
	for _, dir := range []string{orphan, leftOfDeleted} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s survived the sweep: %v", dir, err)
		}
	}
	for _, dir := range []string{inProgress, recordedDir} {
		if left, _ := os.ReadDir(dir); len(left) == 0 {
			t.Errorf("%s was swept", dir)
		}
	}
	api.do("GET", "/scans/"+kept, bearer, "", nil).want(t, http.StatusOK)
}
