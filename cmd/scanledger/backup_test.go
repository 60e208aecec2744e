package main_test

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// backupScan is the part of GET /scans/:id a restore must give back unchanged.
type backupScan struct {
	ID, Status         string
	DetectedHouseTypes []string
	House              struct{ Address string }
	Rooms              []struct {
		ID, Label         string
		DetectedRoomTypes []string
		Images            []struct{ ID, URL string }
	}
	Summary   json.RawMessage
	AgentRuns json.RawMessage
}

// signature drops the signed URLs (they name the server and expire) from a scan.
func (s backupScan) signature(t *testing.T) string {
	t.Helper()
	c := s
	c.Rooms = nil
	for _, r := range s.Rooms {
		r.Images = append(r.Images[:0:0], r.Images...)
		for i := range r.Images {
			r.Images[i].URL = ""
		}
		c.Rooms = append(c.Rooms, r)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBackup_WhileServingThenRestoreIntoANewDataDirServesTheSameScans(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	user := domain.NewID()
	tok := srv.token(user, "user")

	// One processed scan with the real photos.
	var created struct{ ScanID string }
	r := srv.json("POST", "/api/v1/scans", tok, `{"address":"12 Harbour Road"}`)
	r.data(t, &created)
	scanPath := "/api/v1/scans/" + created.ScanID
	pics := photos(t)
	if r = srv.upload(scanPath+"/images", tok, pics, map[string]string{"rooms": `[{"imageIndices":[0]},{"imageIndices":[1]}]`}); r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if r = srv.json("POST", scanPath+"/process", tok, `{}`); r.Status != http.StatusCreated {
		t.Fatalf("process: %d %s", r.Status, r.Body)
	}
	var before backupScan
	deadline := time.Now().Add(120 * time.Second)
	for before.Status != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("scan did not succeed: %+v", before)
		}
		time.Sleep(100 * time.Millisecond)
		srv.do("GET", scanPath, tok, "", nil).data(t, &before)
	}

	// Back up while another client keeps writing.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	writes := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := srv.json("POST", "/api/v1/scans", tok, `{"address":"busy street"}`); r.Status == http.StatusCreated {
				writes++
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	backup := filepath.Join(t.TempDir(), "backup")
	out, err := exec.Command(binary, "backup", "--data-dir", dataDir, "--to", backup).CombinedOutput()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v: %s", err, out)
	}
	if !regexp.MustCompile(`backup in .*: database, 2 photos \(\d+ bytes\), secret`).Match(out) {
		t.Errorf("backup said: %s", out)
	}
	if writes == 0 {
		t.Fatal("nothing was written while the backup ran")
	}
	srv.stop()

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(binary, "restore", "--from", backup, "--data-dir", restored).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v: %s", err, out)
	}
	// Restoring never overwrites.
	if out, err := exec.Command(binary, "restore", "--from", backup, "--data-dir", restored).CombinedOutput(); err == nil {
		t.Fatalf("a second restore into the same data dir succeeded: %s", out)
	}

	srv2 := startServer(t, restored)
	// The secret came along: the token minted for the first server still works.
	var after backupScan
	if r = srv2.do("GET", scanPath, tok, "", nil); r.Status != http.StatusOK {
		t.Fatalf("restored scan: %d %s", r.Status, r.Body)
	}
	r.data(t, &after)
	if a, b := after.signature(t), before.signature(t); a != b {
		t.Errorf("restored scan differs:\n got %s\nwant %s", a, b)
	}

	// Its photos load, byte for byte.
	want := map[[32]byte]bool{}
	for _, p := range pics {
		want[sha256.Sum256(p.data)] = true
	}
	for _, room := range after.Rooms {
		for _, img := range room.Images {
			resp, err := http.Get(img.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !want[sha256.Sum256(b)] {
				t.Errorf("photo %s: %d, %d bytes not among the uploaded photos", img.URL, resp.StatusCode, len(b))
			}
		}
	}

	// Every restored scan's history verifies, the processed one included.
	var list []struct{ ID string }
	srv2.do("GET", "/api/v1/users/me/scans", tok, "", nil).data(t, &list)
	if len(list) < 1 || len(list) > writes+1 {
		t.Fatalf("restored %d scans; %d existed when the backup began and %d when it ended", len(list), 1, writes+1)
	}
	ids := []string{}
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	for _, id := range ids {
		var v struct {
			Valid  bool
			Events int
		}
		srv2.do("GET", "/api/v1/scans/"+id+"/verify", tok, "", nil).data(t, &v)
		if !v.Valid || v.Events == 0 {
			t.Errorf("scan %s does not verify after restore: %+v", id, v)
		}
	}
	if after.House.Address != "12 Harbour Road" {
		t.Errorf("restored address: %q", after.House.Address)
	}
	if _, err := os.Stat(filepath.Join(restored, "secret.key")); err != nil {
		t.Errorf("restored secret: %v", err)
	}
}
