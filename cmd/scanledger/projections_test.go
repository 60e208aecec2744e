package main_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to reach the PostgreSQL read model

	"github.com/scanledger/scanledger/adapters/sqlite"
)

// readModelDB opens the read-model database of a server started with env in dataDir.
func readModelDB(t *testing.T, dataDir string, env []string) *sql.DB {
	t.Helper()
	for _, kv := range env {
		if u, ok := strings.CutPrefix(kv, "SCANLEDGER_EVENTSTORE="); ok {
			db, err := sql.Open("pgx", u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "scanledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Write
}

// projectionsCmd runs `scanledger projections args...` against the server's data.
func projectionsCmd(dataDir string, env []string, args ...string) (string, error) {
	cmd := exec.Command(binary, append(append([]string{"projections"}, args...), "--data-dir", dataDir)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestProjections_RebuildBesideAndSwapWhileServingSendsNothingAgainKeepsSessionsAndRepairsRows(t *testing.T) {
	for _, m := range modes()[:2] { // embedded, postgres+s3: the two read-model engines
		t.Run(m.name, func(t *testing.T) {
			env := m.env(t)
			dir := t.TempDir()
			srv := startServer(t, dir, env...)
			db := readModelDB(t, dir, env)

			email := "ops-" + strings.ReplaceAll(m.name, "+", "-") + "@example.com"
			if r := srv.json("POST", "/api/v1/auth/signup", "", `{"email":"`+email+`","password":"secret1","firstName":"O","lastName":"P"}`); r.Status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.Status, r.Body)
			}
			var session struct{ AccessToken, RefreshToken string }
			srv.json("POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"secret1"}`).data(t, &session)
			tok := session.AccessToken

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			live := srv.follow(ctx, tok, "", "")
			var created struct{ ScanID string }
			srv.json("POST", "/api/v1/scans", tok, `{"address":"12 Harbour Road"}`).data(t, &created)
			scanPath := "/api/v1/scans/" + created.ScanID
			if r := srv.upload(scanPath+"/images", tok, photos(t), map[string]string{"rooms": `[{"imageIndices":[0]},{"imageIndices":[1]}]`}); r.Status != http.StatusCreated {
				t.Fatalf("upload: %d %s", r.Status, r.Body)
			}
			if r := srv.json("POST", scanPath+"/process", tok, `{}`); r.Status != http.StatusCreated {
				t.Fatalf("process: %d %s", r.Status, r.Body)
			}
			got := until(t, live, "scan:completed", 120*time.Second)
			lastID := got[len(got)-1].ID

			// A row gone wrong, as a since-fixed bug or a hand edit leaves it.
			if _, err := db.Exec(`UPDATE scans SET status = 'failed', failure_code = 'corrupted' WHERE id = $1`, created.ScanID); err != nil {
				t.Fatal(err)
			}

			if out, err := projectionsCmd(dir, env, "rebuild", "readmodel"); err == nil || !strings.Contains(out, "needs") {
				t.Fatalf("rebuild in place while serving: %v\n%s", err, out)
			}
			if out, err := projectionsCmd(dir, env, "rebuild", "readmodel", "--beside"); err != nil {
				t.Fatalf("rebuild --beside: %v\n%s", err, out)
			}
			// The API answers throughout the swap.
			stop := make(chan struct{})
			answered := make(chan error, 1)
			go func() {
				defer close(answered)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if r := srv.do("GET", scanPath, tok, "", nil); r.Status != http.StatusOK {
						answered <- fmt.Errorf("GET the scan during the swap: %d %s", r.Status, r.Body)
						return
					}
				}
			}()
			out, err := projectionsCmd(dir, env, "swap", "readmodel")
			close(stop)
			if err != nil {
				t.Fatalf("swap: %v\n%s", err, out)
			}
			if err := <-answered; err != nil {
				t.Error(err)
			}

			var status string
			if err := db.QueryRow(`SELECT status FROM scans WHERE id = $1`, created.ScanID).Scan(&status); err != nil || status != "succeeded" {
				t.Errorf("the corrupted scan after the swap: %q, %v", status, err)
			}
			// Still logged in: the access token works and the refresh token rotates.
			if r := srv.do("GET", scanPath, tok, "", nil); r.Status != http.StatusOK {
				t.Errorf("GET the scan after the swap: %d %s", r.Status, r.Body)
			}
			if r := srv.json("POST", "/api/v1/auth/refresh", "", `{"refreshToken":"`+session.RefreshToken+`"}`); r.Status != http.StatusCreated {
				t.Errorf("refresh after the swap: %d %s", r.Status, r.Body)
			}
			// Nothing was sent again: the next message is the next new one, with the next id.
			var second struct{ ScanID string }
			srv.json("POST", "/api/v1/scans", tok, `{"address":"13 Harbour Road"}`).data(t, &second)
			if r := srv.upload("/api/v1/scans/"+second.ScanID+"/images", tok, photos(t)[:1], map[string]string{"rooms": `[{"imageIndices":[0]}]`}); r.Status != http.StatusCreated {
				t.Fatalf("upload: %d %s", r.Status, r.Body)
			}
			next := until(t, live, "scan:uploaded", 30*time.Second)
			if len(next) != 1 || next[0].ID != lastID+1 || next[0].Data["scanId"] != second.ScanID {
				t.Errorf("after the swap the live client got %+v; want only the new upload, id %d", next, lastID+1)
			}
			if out, err := projectionsCmd(dir, env, "status"); err != nil || !strings.Contains(out, "readmodel") {
				t.Errorf("status: %v\n%s", err, out)
			}
		})
	}
}
