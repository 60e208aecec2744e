package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/domain"
)

// A database outage is not the end of the service: with PostgreSQL crashed
// (pg_ctl -m immediate) for five seconds, and later with every session of the server
// terminated, the process stays up, answers 503 with Retry-After (and /readyz 503)
// while the database is away, and recovers by itself once it is back. Every write it
// acknowledged is there afterwards, and each user's live feed has no gap.
func TestDatabaseOutageIsSurvived(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	env := append(s3Env(t), "SCANLEDGER_EVENTSTORE="+cluster.URL())
	srv := startServer(t, t.TempDir(), env...)

	const users = 4
	toks := make([]string, users)
	for i := range toks {
		toks[i] = srv.token(domain.NewID(), "user")
	}
	w := newWriters(t, srv.base, toks)
	w.start()

	alive := func(when string) {
		t.Helper()
		select {
		case <-srv.done:
			t.Fatalf("the server exited %s:\n%s", when, srv.logs.String())
		default:
		}
	}
	waitWrites := func(n int) {
		t.Helper()
		want := w.acked() + n
		waitFor(t, 60*time.Second, fmt.Sprintf("%d more acknowledged writes", n), func() bool { return w.acked() >= want })
	}

	waitWrites(20)
	cluster.Stop("immediate")
	stopped := time.Now()
	// While the database is away: still running, not ready, and writes refused with 503.
	waitFor(t, 30*time.Second, "/readyz to say 503", func() bool {
		alive("when the database went down")
		return status(srv.base+"/readyz") == http.StatusServiceUnavailable
	})
	unavailable := w.unavailable()
	waitFor(t, 30*time.Second, "writes to be refused with 503", func() bool {
		alive("when the database went down")
		return w.unavailable() > unavailable
	})
	time.Sleep(time.Until(stopped.Add(5 * time.Second)))
	alive("while the database was down")

	cluster.Start()
	recovery := measureRecovery(t, srv.base, toks[0])
	t.Logf("recovered %s after the database came back (crash and restart)", recovery.Round(time.Millisecond))
	alive("after the database came back")
	waitWrites(20)

	for round := range 3 {
		n := cluster.Terminate()
		t.Logf("terminated %d sessions (round %d)", n, round+1)
		took := measureRecovery(t, srv.base, toks[0])
		t.Logf("recovered %s after the sessions were terminated", took.Round(time.Millisecond))
		alive("after its sessions were terminated")
		waitWrites(10)
	}
	w.stop()
	if bad := w.failures(); len(bad) > 0 {
		t.Fatalf("requests that were neither acknowledged nor refused with 503 and Retry-After (%d): %v", len(bad), bad[:min(len(bad), 10)])
	}
	t.Logf("%d writes acknowledged, %d refused with 503", w.acked(), w.unavailable())

	// Everything acknowledged is there, and each user's feed runs 1..n without a gap.
	uploaded := w.uploads()
	for user, ids := range w.created() {
		for _, id := range ids {
			waitFor(t, 30*time.Second, "acknowledged scan "+id+" to be readable", func() bool {
				st, images := scanImages(srv.base, id, toks[user])
				return st == http.StatusOK && (!uploaded[id] || images > 0)
			})
		}
	}
	t.Logf("%d photo uploads acknowledged", len(uploaded))
	conn, err := pgx.Connect(t.Context(), cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT user_id::text, count(*), min(seq), max(seq) FROM user_feed GROUP BY user_id`)
	if err != nil {
		t.Fatal(err)
	}
	feeds := 0
	for rows.Next() {
		var user string
		var n, lo, hi int64
		if err := rows.Scan(&user, &n, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		if lo != 1 || hi != n {
			t.Errorf("feed of %s has %d rows numbered %d..%d: not contiguous", user, n, lo, hi)
		}
		feeds++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if feeds < users {
		t.Errorf("%d users have a feed, want %d", feeds, users)
	}
}

// measureRecovery waits until a write is acknowledged, /readyz says ready and the
// projections show the write, and returns how long that took.
func measureRecovery(t *testing.T, base, tok string) time.Duration {
	t.Helper()
	start := time.Now()
	var id string
	waitFor(t, 60*time.Second, "a write to be acknowledged again", func() bool {
		st, body := post(base+"/api/v1/scans", tok, `{}`)
		if st != http.StatusCreated {
			return false
		}
		id = scanID(body)
		return true
	})
	waitFor(t, 60*time.Second, "/readyz to say 200", func() bool { return status(base+"/readyz") == http.StatusOK })
	waitFor(t, 60*time.Second, "the projections to catch up", func() bool {
		return statusWith(base+"/api/v1/scans/"+id, tok) == http.StatusOK
	})
	return time.Since(start)
}

// writers keep creating scans, one loop per user, and sort every answer.
type writers struct {
	base string
	toks []string
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	form     []byte // a multipart body with one real photo
	formType string

	mu       sync.Mutex
	ok       map[int][]string // user -> scans acknowledged
	uploaded map[string]bool  // scans whose photo upload was acknowledged
	refused  int
	bad      []string
}

func newWriters(t *testing.T, base string, toks []string) *writers {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writers{base: base, toks: toks, ctx: ctx, ok: map[int][]string{}, uploaded: map[string]bool{}}
	w.form, w.formType = multipartForm(photos(t)[1:2], nil)
	w.stop = func() { cancel(); w.wg.Wait() }
	return w
}

func (w *writers) start() {
	client := &http.Client{Timeout: 10 * time.Second}
	for user, tok := range w.toks {
		w.wg.Go(func() {
			for w.ctx.Err() == nil {
				// Create a scan, then upload a photo to it: the upload is what puts a
				// row in the user's feed.
				req, _ := http.NewRequest(http.MethodPost, w.base+"/api/v1/scans", strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				body, ok := w.send(client, req, tok)
				if !ok {
					continue
				}
				id := scanID(body)
				w.mu.Lock()
				w.ok[user] = append(w.ok[user], id)
				w.mu.Unlock()
				req, _ = http.NewRequest(http.MethodPost, w.base+"/api/v1/scans/"+id+"/images", bytes.NewReader(w.form))
				req.Header.Set("Content-Type", w.formType)
				if _, ok := w.send(client, req, tok); ok {
					w.mu.Lock()
					w.uploaded[id] = true
					w.mu.Unlock()
				}
			}
		})
	}
}

// send makes the request and sorts the answer: true for a 2xx.
func (w *writers) send(client *http.Client, req *http.Request, tok string) ([]byte, bool) {
	req.Header.Set("Authorization", "Bearer "+tok)
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		w.note(fmt.Sprintf("%s %s: transport error after %s: %v", req.Method, req.URL.Path, time.Since(began).Round(time.Millisecond), err))
		return nil, false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return body, true
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		w.mu.Lock()
		w.refused++
		w.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	default:
		w.note(fmt.Sprintf("%s %s: %d (Retry-After %q) %s", req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Retry-After"), body))
	}
	return nil, false
}

func (w *writers) note(s string) {
	w.mu.Lock()
	w.bad = append(w.bad, s)
	w.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
}

func (w *writers) acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ids := range w.ok {
		n += len(ids)
	}
	return n
}

func (w *writers) unavailable() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

func (w *writers) failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bad...)
}

func (w *writers) uploads() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]bool{}
	for id := range w.uploaded {
		out[id] = true
	}
	return out
}

// scanImages reads a scan and counts its photos.
func scanImages(base, id, tok string) (int, int) {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/scans/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			Rooms []struct {
				Images []struct{ ID string } `json:"images"`
			} `json:"rooms"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	n := 0
	for _, r := range env.Data.Rooms {
		n += len(r.Images)
	}
	return resp.StatusCode, n
}

func (w *writers) created() map[int][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[int][]string{}
	for u, ids := range w.ok {
		out[u] = append([]string(nil), ids...)
	}
	return out
}

func scanID(body []byte) string {
	var env struct {
		Data struct{ ScanID string } `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	return env.Data.ScanID
}

func post(url, tok, body string) (int, []byte) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func status(url string) int { return statusWith(url, "") }

func statusWith(url, tok string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// s3Env names a fresh bucket on the test S3 server.
func s3Env(t *testing.T) []string {
	t.Helper()
	endpoint := os.Getenv("TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Fatal("the test S3 server is missing (TEST_S3_ENDPOINT): run the tests with `make test`")
	}
	bucket := "outage-" + strings.ReplaceAll(domain.NewID(), "-", "")[:16]
	return []string{
		"SCANLEDGER_BLOBS=s3://" + bucket,
		"SCANLEDGER_S3_ENDPOINT=" + endpoint,
		"SCANLEDGER_S3_ACCESS_KEY=" + os.Getenv("TEST_S3_ACCESS_KEY"),
		"SCANLEDGER_S3_SECRET_KEY=" + os.Getenv("TEST_S3_SECRET_KEY"),
		fmt.Sprintf("SCANLEDGER_S3_PUBLIC_URL=http://%s", endpoint),
	}
}
