package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// metric reads one sample from the server's /metrics; ok is false when it is absent.
func metric(t *testing.T, base, name, labels string) (v float64, ok bool) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, found := strings.CutPrefix(sc.Text(), want+" "); found {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %q is not a number", want, rest)
			}
			return v, true
		}
	}
	return 0, false
}

// An instance that serves but does not project reports the projections' lag from the
// shared read model: with the projector paused (SIGSTOP) the lag in events and in
// seconds grows with every write, and once it runs again the lag is gone and an event
// it could not apply shows as parked.
func TestMetricsShowLagGrowingWhileTheProjectorIsPausedAndParkedEvents(t *testing.T) {
	env := append(postgresS3Env(t), "SCANLEDGER_JWT_SECRET=shared-secret-for-both-instances")
	projector := startServer(t, t.TempDir(), append(env, "SCANLEDGER_ROLES=http,projector")...)
	api := startServer(t, t.TempDir(), append(env, "SCANLEDGER_ROLES=http")...)
	tok := api.token(domain.NewID(), "user")
	lag := func(unit string) float64 {
		v, ok := metric(t, api.base, "scanledger_projection_lag_"+unit, `projection="readmodel"`)
		if !ok {
			t.Fatalf("/metrics has no scanledger_projection_lag_%s for readmodel", unit)
		}
		return v
	}
	create := func() {
		t.Helper()
		if r := api.json("POST", "/api/v1/scans", tok, `{}`); r.Status != http.StatusCreated {
			t.Fatalf("create scan: %d %s", r.Status, r.Body)
		}
	}
	create()
	waitFor(t, 30*time.Second, "the projector to catch up", func() bool { return lag("events") == 0 })

	pid := projector.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	for range 3 {
		create()
	}
	if got := lag("events"); got != 3 {
		t.Fatalf("lag with the projector paused after 3 writes = %v events, want 3", got)
	}
	first := lag("seconds")
	create()
	create()
	if got := lag("events"); got != 5 {
		t.Fatalf("lag after 2 more writes = %v events, want 5", got)
	}
	waitFor(t, 10*time.Second, "the lag in seconds to grow", func() bool { return lag("seconds") > first })

	// A poison event: progress for a scan that was never created (a buggy tool wrote it).
	store, err := postgres.Open(t.Context(), envValue(env, "SCANLEDGER_EVENTSTORE", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	id := domain.NewID()
	md, _ := json.Marshal(event.Metadata{EventID: id, OccurredAt: time.Now().UTC(), UserID: domain.NewID(), SchemaVersion: 1})
	if _, err := store.Append(t.Context(), scan.StreamName(domain.NewID()), event.NoStream, []event.Data{{
		ID: id, Type: scan.TypeProgressReported, SchemaVersion: 1,
		Data: []byte(`{"attempt":1,"progress":5,"stage":"x"}`), Metadata: md,
	}}); err != nil {
		t.Fatal(err)
	}
	if parked, _ := metric(t, api.base, "scanledger_projection_parked_events", `projection="readmodel"`); parked != 0 {
		t.Fatalf("parked before the projector saw the poison event = %v, want 0", parked)
	}

	resume()
	waitFor(t, 60*time.Second, "the projector to catch up after the pause", func() bool {
		return lag("events") == 0 && lag("seconds") == 0
	})
	if parked, _ := metric(t, api.base, "scanledger_projection_parked_events", `projection="readmodel"`); parked != 1 {
		t.Fatalf("parked after the poison event = %v, want 1", parked)
	}
	// The projector's own figures: it runs the projection and applied the writes.
	if running, ok := metric(t, projector.base, "scanledger_projection_running", `projection="readmodel"`); !ok || running != 1 {
		t.Errorf("projector's scanledger_projection_running = %v (present %v), want 1", running, ok)
	}
	if _, ok := metric(t, api.base, "scanledger_projection_running", `projection="readmodel"`); ok {
		t.Errorf("an instance without the projector role reports scanledger_projection_running")
	}
}

// /readyz answers 503 while the read model's database is away, saying so, and 200
// again once it is back; the event store stays up meanwhile.
func TestReadyzIsUnavailableWhileTheReadModelIsUnreachable(t *testing.T) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Fatal("needs TEST_DATABASE_URL: run the tests with `make test`")
	}
	readModel := pgtest.StartCluster(t)
	srv := startServer(t, t.TempDir(),
		"SCANLEDGER_EVENTSTORE="+pgtest.New(t, "scanledger_e2e"), "SCANLEDGER_READMODEL="+readModel.URL())
	readyz := func() response { return srv.do("GET", "/readyz", "", "", nil) }
	waitFor(t, 30*time.Second, "/readyz to say 200", func() bool { return readyz().Status == http.StatusOK })

	readModel.Stop("immediate")
	waitFor(t, 30*time.Second, "/readyz to say 503", func() bool { return readyz().Status == http.StatusServiceUnavailable })
	if r := readyz(); r.Status != http.StatusServiceUnavailable || !bytes.Contains(r.Body, []byte("read model")) {
		t.Fatalf("/readyz with the read model away: %d %s, want 503 naming the read model", r.Status, r.Body)
	}
	if r := srv.do("GET", "/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("/healthz with the read model away: %d, want 200 (the process is alive)", r.Status)
	}

	readModel.Start()
	waitFor(t, 60*time.Second, "/readyz to say 200 again", func() bool { return readyz().Status == http.StatusOK })
}

// Every request leaves one access-log line (JSON with --log-format json) with its
// method, route template, status, duration, user and request id, and no token appears
// in the logs, whether sent as a header or in a query string.
func TestAccessLogHasOneLinePerRequestAndNoToken(t *testing.T) {
	srv := startServer(t, t.TempDir(), "SCANLEDGER_LOG_FORMAT=json")
	user := domain.NewID()
	tok := srv.token(user, "user")
	req, _ := http.NewRequest("GET", srv.base+"/api/v1/users/me/scans?token="+tok, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Request-Id", "access-log-test-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list scans: %d", resp.StatusCode)
	}
	// The WebSocket route takes its token from the query; a plain GET is refused
	// before any upgrade, and still logged without the token.
	if r := srv.do("GET", "/api/v1/ws?token="+tok+"&scanId=not-a-uuid", "", "", nil); r.Status < 400 {
		t.Fatalf("plain GET /api/v1/ws: %d, want an error", r.Status)
	}
	if r := srv.do("GET", "/api/v1/scans/"+domain.NewID(), "", "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("GET a scan without a token: %d, want 401", r.Status)
	}

	type line struct {
		Msg, Method, Route, UserID, RequestID string
		Status                                int
		DurationMS                            *float64 `json:"duration_ms"`
	}
	var lines []line
	waitFor(t, 10*time.Second, "three access-log lines", func() bool {
		lines = nil
		for _, l := range strings.Split(srv.logs.String(), "\n") {
			var v struct {
				line
				UserID    string `json:"user_id"`
				RequestID string `json:"request_id"`
			}
			if !strings.HasPrefix(l, "{") {
				continue
			}
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("a log line is not JSON: %q: %v", l, err)
			}
			if v.Msg == "request" && strings.HasPrefix(v.Route, "/api/") {
				v.line.UserID, v.line.RequestID = v.UserID, v.RequestID
				lines = append(lines, v.line)
			}
		}
		return len(lines) >= 3
	})
	if len(lines) != 3 {
		t.Fatalf("access-log lines for 3 API requests: %+v", lines)
	}
	got := lines[0]
	if got.Method != "GET" || got.Route != "/api/v1/users/me/scans" || got.Status != 200 || got.UserID != user ||
		got.RequestID != "access-log-test-1" || got.DurationMS == nil {
		t.Errorf("access-log line = %+v, want GET /api/v1/users/me/scans 200 by %s with request id access-log-test-1 and a duration", got, user)
	}
	if got := lines[1]; got.Route != "/api/v1/ws" || got.Status < 400 {
		t.Errorf("WebSocket access-log line = %+v", got)
	}
	if got := lines[2]; got.Route != "/api/v1/scans/:scanId" || got.Status != 401 || got.UserID != "" || got.RequestID == "" {
		t.Errorf("unauthenticated access-log line = %+v, want the route template, 401, no user and a minted request id", got)
	}
	signature := tok[strings.LastIndex(tok, ".")+1:]
	if logs := srv.logs.String(); strings.Contains(logs, signature) {
		t.Errorf("the logs hold the token:\n%s", regexp.MustCompile(regexp.QuoteMeta(signature)).ReplaceAllString(logs, "<TOKEN>"))
	}
}

// One scan through the pipeline moves the counters of each part it crosses: the
// commands and appends, the worker's claim and completed attempt, the analyzer's call,
// and the HTTP requests by route template.
func TestMetricsCountAScanThroughThePipeline(t *testing.T) {
	srv := startServer(t, t.TempDir())
	tok := srv.token(domain.NewID(), "user")
	_, path := srv.submitScan(tok, `{}`, photos(t), nil)
	waitFor(t, 120*time.Second, "the scan to succeed", func() bool {
		var s struct{ Status string }
		srv.do("GET", path, tok, "", nil).data(t, &s)
		return s.Status == "succeeded"
	})
	// A live stream is counted with the status it answered: the SSE transport takes the
	// connection over (as a WebSocket does) but answers 200, not 101.
	req, _ := http.NewRequest("GET", srv.base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("live stream: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, 10*time.Second, "the live stream counted", func() bool {
		v, _ := metric(t, srv.base, "scanledger_http_requests_total", `method="GET",route="/api/v1/events",status="200"`)
		return v >= 1
	})
	at := func(name, labels string) float64 {
		v, ok := metric(t, srv.base, name, labels)
		if !ok {
			t.Errorf("/metrics has no %s{%s}", name, labels)
		}
		return v
	}
	for _, c := range []struct {
		name, labels string
		least        float64
	}{
		{"scanledger_worker_jobs_claimed_total", "", 1},
		{"scanledger_worker_attempts_total", `outcome="completed"`, 1},
		{"scanledger_analyzer_calls_total", "", 1},
		{"scanledger_event_appends_total", `outcome="ok"`, 4},
		{"scanledger_command_duration_seconds_count", `outcome="ok"`, 4},
		{"scanledger_http_requests_total", `method="POST",route="/api/v1/scans/:scanId/images",status="201"`, 1},
		{"scanledger_http_requests_total", `method="GET",route="/api/v1/scans/:scanId",status="200"`, 1},
	} {
		if got := at(c.name, c.labels); got < c.least {
			t.Errorf("%s{%s} = %v, want at least %v", c.name, c.labels, got, c.least)
		}
	}
	if got := at("scanledger_worker_jobs_running", ""); got != 0 {
		t.Errorf("jobs running after the scan succeeded = %v, want 0", got)
	}
}
