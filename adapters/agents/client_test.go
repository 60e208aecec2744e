package agents_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents"
	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/domain/analysis"
)

func TestAnalyze_RealisticSuccessMapsTheWholeResponse(t *testing.T) {
	srv := agentstest.NewServer(t)
	req := scanRequest(t, srv, 2, 1)
	var log progressLog

	resp, err := newClient(srv).Analyze(context.Background(), req, log.report)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if got := srv.Calls(); got != 1 {
		t.Fatalf("calls = %d, want 1", got)
	}

	// The service fetched every photo the way section 5.5 describes.
	sum := sha256.Sum256(photo(t))
	fetches := srv.Fetches()
	if len(fetches) != 3 {
		t.Fatalf("fetches = %d, want 3", len(fetches))
	}
	for _, f := range fetches {
		if !f.OK || f.SHA256 != hex.EncodeToString(sum[:]) || f.UserAgent != "HouseCheck/2.0 Image Fetcher" {
			t.Errorf("fetch %+v: want the uploaded photo fetched OK", f)
		}
	}

	r := resp.Result
	houseTypes := []string{"apartment", "villa", "townhouse", "studio", "penthouse"}
	if len(r.HouseTypes) != 1 || !slices.Contains(houseTypes, r.HouseTypes[0]) {
		t.Errorf("house_types = %v, want one of %v", r.HouseTypes, houseTypes)
	}
	for _, id := range []string{"water_damage", "structural_issues", "electrical_system", "plumbing_system", "pest_issues"} {
		if _, ok := r.HouseChecklist.Booleans[id]; !ok {
			t.Errorf("house boolean %q not answered: %v", id, r.HouseChecklist.Booleans)
		}
	}
	if v := r.HouseChecklist.Categoricals["overall_cleanliness"]; !slices.Contains([]string{"Poor", "Average", "Good", "Excellent"}, v) {
		t.Errorf("overall_cleanliness = %q, want one of its options", v)
	}
	if len(r.Rooms) != 2 || r.Rooms[0].RoomID != "room-1" || r.Rooms[1].RoomID != "room-2" {
		t.Fatalf("rooms = %+v, want room-1 and room-2", r.Rooms)
	}
	roomTypes := []string{"bedroom", "living_room", "kitchen", "bathroom", "office"}
	for _, room := range r.Rooms {
		if len(room.RoomTypes) != 1 || !slices.Contains(roomTypes, room.RoomTypes[0]) {
			t.Errorf("room %s types = %v", room.RoomID, room.RoomTypes)
		}
		if _, ok := room.Issues.Categoricals["room_cleanliness"]; !ok {
			t.Errorf("room %s: room_cleanliness not answered", room.RoomID)
		}
		if _, ok := room.Issues.Conditionals["windows"]; !ok {
			t.Errorf("room %s: windows not answered", room.RoomID)
		}
		if n := len(room.Products.Conditionals); n != 25 {
			t.Errorf("room %s: %d products answered, want 25", room.RoomID, n)
		}
	}
	custom := slices.Concat(r.Summary.House, r.Summary.Rooms, r.Summary.Products)
	if !slices.Equal(r.Summary.Custom, custom) || len(custom) == 0 {
		t.Errorf("summary.custom = %v, want house+rooms+products lines", r.Summary.Custom)
	}
	for _, line := range r.Summary.Rooms {
		if !strings.HasPrefix(line, "room:room-") {
			t.Errorf("room summary line %q lacks the room:<id>: prefix", line)
		}
	}

	cs := resp.ClientSummary
	if len(cs.Rooms) != 2 || len(cs.Products) != 2 {
		t.Errorf("client_summary rooms/products = %d/%d, want 2/2", len(cs.Rooms), len(cs.Products))
	}
	if n := len(cs.ChecklistMetadata.Products); n != 25 {
		t.Errorf("checklist_metadata.products has %d items, want 25", n)
	}
	if m := cs.ChecklistMetadata.House["water_damage"]; m.Title != "Water Damage" || m.Type != "boolean" || m.Options == nil {
		t.Errorf("checklist_metadata.house.water_damage = %+v", m)
	}

	ci := resp.CostInfo
	if ci.Tokens.TotalTokens == 0 || ci.Tokens.TotalTokens != ci.Tokens.PromptTokens+ci.Tokens.CompletionTokens {
		t.Errorf("tokens = %+v", ci.Tokens)
	}
	for _, label := range []string{"house type", "house checklist-batch1", "room type",
		"room checklist (room-1)-batch1", "products checklist (room-2)-batch5", "pros/cons analysis"} {
		if a, ok := ci.AgentsDetailed[label]; !ok || a.TotalTokens == 0 || a.Requests == 0 {
			t.Errorf("agents_detailed[%q] = %+v (present %v)", label, a, ok)
		}
	}
	requests := 0
	for _, a := range ci.AgentsDetailed {
		requests += a.Requests
	}
	if requests != ci.Requests.TotalRequests {
		t.Errorf("agents_detailed requests sum to %d, total_requests = %d", requests, ci.Requests.TotalRequests)
	}
	if ci.Costs.TotalEstimatedUSD <= 0 {
		t.Errorf("total_estimated_usd = %v, want > 0", ci.Costs.TotalEstimatedUSD)
	}
	if resp.AgentExecutions == nil || len(resp.AgentExecutions) != 0 {
		t.Errorf("agent_executions = %v, want [] as at HEAD", resp.AgentExecutions)
	}
	md := resp.Metadata
	if md.PipelineVersion != "2.0.0" || md.RoomsProcessed != 2 || md.TotalImages != 3 || md.RequestID == "" {
		t.Errorf("metadata = %+v", md)
	}

	reports := log.all()
	if len(reports) == 0 || reports[0].Percent != 20 || reports[0].Stage != "Analyzing images" || reports[0].ETA <= 0 {
		t.Errorf("first progress = %+v, want 20 \"Analyzing images\" with an ETA", reports)
	}
}

func TestAnalyze_SendsExactlyTheSection53Body(t *testing.T) {
	srv := agentstest.NewServer(t)
	req := scanRequest(t, srv, 2, 1)
	req.Rooms = append(req.Rooms, analysis.Room{ID: "room-empty"})
	req.RoomsChecklist = nil                         // missing: sent as {}
	req.ProductsChecklist = json.RawMessage(" null") // null from a stored event: sent as {}

	if _, err := newClient(srv).Analyze(context.Background(), req, nil); err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	calls := srv.Requests()
	if len(calls) != 1 {
		t.Fatalf("calls = %d, want 1", len(calls))
	}
	if ct := calls[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got, house any
	if err := json.Unmarshal(calls[0].Body, &got); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := json.Unmarshal(checklist(t, "house_type"), &house); err != nil {
		t.Fatal(err)
	}
	urls := func(r analysis.Room) []any {
		out := []any{}
		for _, im := range r.Images {
			out = append(out, im.URL)
		}
		return out
	}
	want := map[string]any{
		"rooms": []any{
			map[string]any{"room_id": "room-1", "image_urls": urls(req.Rooms[0])},
			map[string]any{"room_id": "room-2", "image_urls": urls(req.Rooms[1])},
			map[string]any{"room_id": "room-empty", "image_urls": []any{}},
		},
		"house_checklist":    house,
		"rooms_checklist":    map[string]any{},
		"products_checklist": map[string]any{},
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("body =\n%s\nwant the 5.3 shape with exactly rooms[{room_id,image_urls}] and the three checklists", gotJSON)
	}
}

func TestAnalyze_422FailsAtOnceWithTheReadableDetail(t *testing.T) {
	srv := agentstest.NewServer(t)
	req := scanRequest(t, srv, 1)
	req.HouseChecklist = json.RawMessage(`["not", "an", "object"]`) // passed through; the service refuses it

	_, err := newClient(srv).Analyze(context.Background(), req, nil)
	ae := asAnalysisError(t, err)
	if ae.Code != "agents_http_422" || ae.Retryable {
		t.Errorf("error = %+v, want non-retryable agents_http_422", ae)
	}
	if want := "body.house_checklist: Input should be a valid dictionary (dict_type)"; !strings.Contains(ae.Detail, want) {
		t.Errorf("detail = %q, want it to contain %q", ae.Detail, want)
	}
	if got := srv.Calls(); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}

func TestAnalyze_400FailsAtOnceWithTheDetail(t *testing.T) {
	srv := agentstest.NewServer(t)
	req := scanRequest(t, srv) // no rooms

	_, err := newClient(srv).Analyze(context.Background(), req, nil)
	ae := asAnalysisError(t, err)
	if ae.Code != "agents_http_400" || ae.Retryable || ae.Detail != "HTTP 400: At least one room must be provided" {
		t.Errorf("error = %+v, want non-retryable agents_http_400 with the service's detail", ae)
	}
	if got := srv.Calls(); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}

func TestAnalyze_OtherClientErrorsFailAtOnce(t *testing.T) {
	failsAtOnce(t, agentstest.Detail(404, "Not Found"), "agents_http_404")
}

// failsAtOnce checks that a service answering with b fails an analysis with a
// non-retryable error of code after one call.
func failsAtOnce(t *testing.T, b agentstest.Behaviour, code string) {
	t.Helper()
	srv := agentstest.NewServer(t, b)
	_, err := newClient(srv).Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	if ae := asAnalysisError(t, err); ae.Code != code || ae.Retryable {
		t.Errorf("error = %+v, want non-retryable %s", ae, code)
	}
	if got := srv.Calls(); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}

func TestAnalyze_500IsRetriedUpToMaxTriesThenRetryable(t *testing.T) {
	for _, tries := range []int{1, 3, 4} {
		srv := agentstest.NewServer(t, agentstest.InternalError("Pipeline failed: boom"))
		var log progressLog
		_, err := withClient(newClient(srv), func(c *agents.Client) { c.MaxTries = tries }).Analyze(context.Background(), scanRequest(t, srv, 1), log.report)

		ae := asAnalysisError(t, err)
		if ae.Code != "agents_unavailable" || !ae.Retryable {
			t.Errorf("tries %d: error = %+v, want retryable agents_unavailable", tries, ae)
		}
		if want := "HTTP 500: Internal server error: Pipeline failed: boom"; !strings.Contains(ae.Detail, want) {
			t.Errorf("tries %d: detail = %q, want the service's detail %q", tries, ae.Detail, want)
		}
		if got := srv.Calls(); got != tries {
			t.Errorf("tries %d: calls = %d", tries, got)
		}
		var stages []string
		for _, p := range log.all() {
			stages = append(stages, p.Stage)
		}
		for n := 2; n <= tries; n++ {
			if want := fmt.Sprintf("Retrying analysis (try %d of %d)", n, tries); !slices.Contains(stages, want) {
				t.Errorf("tries %d: stages %q lack %q", tries, stages, want)
			}
		}
		checkRising(t, log.all())
	}
}

func TestAnalyze_500ThenSuccessSucceedsOnTheSecondCall(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.InternalError("Pipeline failed: flaky"), agentstest.Succeed())
	resp, err := newClient(srv).Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if len(resp.Result.Rooms) != 1 {
		t.Errorf("rooms = %+v", resp.Result.Rooms)
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("calls = %d, want 2", got)
	}
}

func TestAnalyze_429HonoursRetryAfter(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.RateLimited("1"), agentstest.Succeed())
	// The backoff alone would wait about a millisecond; only Retry-After explains a second.
	client := withClient(newClient(srv), func(c *agents.Client) { c.BackoffBase, c.BackoffMax = time.Millisecond, time.Minute })
	if _, err := client.Analyze(context.Background(), scanRequest(t, srv, 1), nil); err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	calls := srv.Requests()
	if len(calls) != 2 {
		t.Fatalf("calls = %d, want 2", len(calls))
	}
	if gap := calls[1].Received.Sub(calls[0].Received); gap < time.Second {
		t.Errorf("second call came %s after the first, want at least the 1 s of Retry-After", gap)
	}
}

func TestAnalyze_RetryAfterIsCapped(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.RateLimited("3600"), agentstest.Succeed())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := newClient(srv).Analyze(ctx, scanRequest(t, srv, 1), nil); err != nil {
		t.Fatalf("Analyze: %v (an uncapped Retry-After of an hour would run into the test's deadline)", err)
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("calls = %d, want 2", got)
	}
}

func TestAnalyze_429WithoutRetryAfterIsRetried(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.RateLimited(""))
	_, err := newClient(srv).Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	if ae := asAnalysisError(t, err); ae.Code != "agents_unavailable" || !ae.Retryable || !strings.Contains(ae.Detail, "HTTP 429") {
		t.Errorf("error = %+v, want retryable agents_unavailable naming the 429", ae)
	}
	if got := srv.Calls(); got != 3 {
		t.Errorf("calls = %d, want 3", got)
	}
}

func TestAnalyze_DroppedConnectionIsRetried(t *testing.T) {
	for name, b := range map[string]agentstest.Behaviour{
		"closed before answering": agentstest.Drop(),
		"EOF mid-response":        agentstest.Truncate(),
	} {
		t.Run(name, func(t *testing.T) {
			srv := agentstest.NewServer(t, b, agentstest.Succeed())
			if _, err := newClient(srv).Analyze(context.Background(), scanRequest(t, srv, 1), nil); err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			if got := srv.Calls(); got != 2 {
				t.Errorf("calls = %d, want 2", got)
			}
		})
	}
}

func TestAnalyze_DroppedEveryTimeKeepsTheNetworkCause(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.Drop())
	_, err := newClient(srv).Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	ae := asAnalysisError(t, err)
	if ae.Code != "agents_unavailable" || !ae.Retryable || !strings.Contains(ae.Detail, "network error") {
		t.Errorf("error = %+v, want retryable agents_unavailable with the network error", ae)
	}
	if got := srv.Calls(); got != 3 {
		t.Errorf("calls = %d, want 3", got)
	}
}

func TestAnalyze_UnreachableServiceIsRetriedThenRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	client := withClient(agents.New("http://"+addr), func(c *agents.Client) { c.BackoffBase, c.BackoffMax = time.Millisecond, 5*time.Millisecond })
	req := analysis.Request{Rooms: []analysis.Room{{ID: "r", Images: []analysis.Image{{URL: "http://example.invalid/a.jpg"}}}}}
	_, err = client.Analyze(context.Background(), req, nil)
	ae := asAnalysisError(t, err)
	if ae.Code != "agents_unavailable" || !ae.Retryable || !strings.Contains(ae.Detail, "gave up after 3 tries") {
		t.Errorf("error = %+v", ae)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("the network cause is not kept in the chain: %v", err)
	}
}

func TestAnalyze_SlowerThanTheCallTimeoutIsRetriedThenFails(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.Delay(time.Minute, agentstest.Succeed()))
	// The try timeout leaves each request time to reach the service on a loaded machine:
	// with 50ms a try was sometimes cut before the service saw it, and it counted 2 calls.
	client := withClient(newClient(srv), func(c *agents.Client) { c.CallTimeout, c.MaxTries = 500*time.Millisecond, 3 })

	_, err := client.Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	ae := asAnalysisError(t, err)
	if ae.Code != "agents_unavailable" || !ae.Retryable || !strings.Contains(ae.Detail, "gave up after 3 tries; last: no answer within 500ms") {
		t.Errorf("error = %+v, want retryable agents_unavailable after try timeouts", ae)
	}
	if got := srv.Calls(); got != 3 {
		t.Errorf("calls = %d, want 3 (bounded by the max tries)", got)
	}
}

func TestAnalyze_ContextEndStopsAtOnce(t *testing.T) {
	never := make(chan struct{})

	t.Run("cancel while the service works", func(t *testing.T) {
		srv := agentstest.NewServer(t, agentstest.Hold(never, agentstest.Succeed()))
		ctx, cancel := context.WithCancel(context.Background())
		go cancelWhen(cancel, func() bool { return srv.Calls() == 1 })
		_, err := newClient(srv).Analyze(ctx, scanRequest(t, srv, 1), nil)
		if ae := asAnalysisError(t, err); ae.Code != "agents_canceled" || !ae.Retryable {
			t.Errorf("error = %+v, want retryable agents_canceled", ae)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not match context.Canceled", err)
		}
		if got := srv.Calls(); got != 1 {
			t.Errorf("calls = %d, want 1", got)
		}
	})

	t.Run("cancel while waiting to retry", func(t *testing.T) {
		srv := agentstest.NewServer(t, agentstest.InternalError("boom"))
		ctx, cancel := context.WithCancel(context.Background())
		// The retry stage is reported just before the wait, so cancelling then hits the wait.
		cancelOnRetry := func(p analysis.Progress) {
			if strings.HasPrefix(p.Stage, "Retrying") {
				cancel()
			}
		}
		_, err := withClient(newClient(srv), func(c *agents.Client) { c.BackoffBase, c.BackoffMax = time.Hour, time.Hour }).Analyze(ctx, scanRequest(t, srv, 1), cancelOnRetry)
		ae := asAnalysisError(t, err)
		if ae.Code != "agents_canceled" || !strings.Contains(ae.Detail, "Internal server error: boom") {
			t.Errorf("error = %+v, want agents_canceled naming the previous try's failure", ae)
		}
		if got := srv.Calls(); got != 1 {
			t.Errorf("calls = %d, want 1", got)
		}
	})

	t.Run("overall deadline beats the per-call deadline", func(t *testing.T) {
		srv := agentstest.NewServer(t, agentstest.Hold(never, agentstest.Succeed()))
		req := scanRequest(t, srv, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := withClient(newClient(srv), func(c *agents.Client) { c.CallTimeout = time.Hour }).Analyze(ctx, req, nil)
		if ae := asAnalysisError(t, err); ae.Code != "agents_timeout" || !ae.Retryable {
			t.Errorf("error = %+v, want retryable agents_timeout", ae)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not match context.DeadlineExceeded", err)
		}
		// On a loaded machine the deadline may pass before the call even arrives.
		if got := srv.Calls(); got > 1 {
			t.Errorf("calls = %d, want at most 1", got)
		}
	})
}

func TestAnalyze_ProgressRisesTowardButNeverReaches85(t *testing.T) {
	release := make(chan struct{})
	srv := agentstest.NewServer(t, agentstest.Hold(release, agentstest.Succeed()))
	clock := newManualClock()
	client := withClient(newClient(srv), func(c *agents.Client) {
		c.Clock, c.ProgressInterval, c.TimePerLLMCall = clock, 5*time.Second, 5*time.Second
	})
	var log progressLog

	type result struct {
		resp *analysis.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Analyze(context.Background(), scanRequest(t, srv, 1), log.report)
		done <- result{resp, err}
	}()

	// 1 room with the shipped checklists: 1 + ⌈(6+3)/6⌉ + 1×(1 + ⌈(5+4)/6⌉ + ⌈25/6⌉) + 1 = 12
	// calls of 5 s. Tick through 200 s, over three times that estimate.
	const estimate = 60 * time.Second
	eventually(t, "the first report", func() bool { return log.len() == 1 })
	for i := 1; i <= 40; i++ {
		eventually(t, "the progress tick to wait", func() bool { return clock.waiting() > 0 })
		clock.Advance(5 * time.Second)
		eventually(t, "a report per tick", func() bool { return log.len() == i+1 })
	}
	close(release)
	if r := <-done; r.err != nil {
		t.Fatalf("Analyze: %v", r.err)
	}

	reports := log.all()
	checkRising(t, reports)
	for i, p := range reports {
		if p.Stage != "Analyzing images" {
			t.Errorf("report %d: stage %q", i, p.Stage)
		}
		if want := max(estimate-time.Duration(i)*5*time.Second, 0); p.ETA != want {
			t.Errorf("report %d: ETA %s, want %s", i, p.ETA, want)
		}
	}
	if first := reports[0]; first.Percent != 20 {
		t.Errorf("first report = %+v, want 20%%", first)
	}
	if mid := reports[12]; mid.Percent <= 60 || mid.Percent >= 85 {
		t.Errorf("report at the estimate = %+v, want well on the way but below 85", mid)
	}
	if last := reports[len(reports)-1]; last.Percent != 84 {
		t.Errorf("report long past the estimate = %+v, want 84", last)
	}
}

func TestAnalyze_ProgressWithTheRealClock(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.Delay(300*time.Millisecond, agentstest.Succeed()))
	var log progressLog
	client := withClient(newClient(srv), func(c *agents.Client) {
		c.ProgressInterval, c.TimePerLLMCall = 10*time.Millisecond, 20*time.Millisecond
	})
	if _, err := client.Analyze(context.Background(), scanRequest(t, srv, 1), log.report); err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	reports := log.all()
	if len(reports) < 2 {
		t.Fatalf("reports = %+v, want the start and at least one tick during a 300 ms call", reports)
	}
	checkRising(t, reports)
	if reports[len(reports)-1].Percent <= 20 {
		t.Errorf("percent never rose: %+v", reports)
	}
	n := log.len()
	time.Sleep(50 * time.Millisecond)
	if log.len() != n {
		t.Errorf("progress was reported after Analyze returned")
	}
}

func TestAnalyze_ETAFollowsTheSection55CallCount(t *testing.T) {
	items := func(prefix string, n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, `{"id":"`+prefix+string(rune('a'+i))+`","type":"boolean"}`)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name                    string
		house, rooms, products  string
		roomsWithPhotos, noneAt int
		calls                   int
	}{
		{"empty checklists still classify and weigh pros/cons", "{}", "{}", "{}", 1, 0, 3},
		{"rooms without photos are skipped", "{}", "{}", "{}", 2, 1, 1 + 2 + 1},
		{"batches of six", `{"default":{"items":` + items("h", 7) + `}}`, `{"default":{"items":` + items("r", 6) + `}}`,
			`{"items":` + items("p", 13) + `}`, 2, 0, 1 + 2 + 2*(1+1+3) + 1},
		{"the largest type counts, ids de-duplicated", `{"default":{"items":` + items("h", 5) + `},"house_types":{"a":{"items":` + items("h", 6) + `},"b":{"items":` + items("x", 2) + `}}}`,
			"{}", "{}", 1, 0, 1 + 2 + 1 + 1},
		{"products default replaces items", "{}", "{}", `{"items":` + items("p", 13) + `,"default":{"items":` + items("q", 1) + `}}`, 1, 0, 1 + 0 + (1 + 0 + 1) + 1},
		{"unreadable checklists count as empty", `{"default":"x"}`, `[1]`, `{"items":{}}`, 1, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := agentstest.NewServer(t, agentstest.Detail(400, "stop here"))
			req := analysis.Request{
				HouseChecklist:    json.RawMessage(tt.house),
				RoomsChecklist:    json.RawMessage(tt.rooms),
				ProductsChecklist: json.RawMessage(tt.products),
			}
			for i := range tt.roomsWithPhotos + tt.noneAt {
				room := analysis.Room{ID: string(rune('a' + i))}
				if i < tt.roomsWithPhotos {
					room.Images = []analysis.Image{{URL: "http://example.invalid/x.jpg"}}
				}
				req.Rooms = append(req.Rooms, room)
			}
			var log progressLog
			client := withClient(newClient(srv), func(c *agents.Client) { c.Clock, c.TimePerLLMCall = newManualClock(), time.Second })
			_, _ = client.Analyze(context.Background(), req, log.report)
			reports := log.all()
			if len(reports) == 0 {
				t.Fatal("no progress reported")
			}
			if want := time.Duration(tt.calls) * time.Second; reports[0].ETA != want {
				t.Errorf("first ETA = %s, want %d calls × 1 s", reports[0].ETA, tt.calls)
			}
		})
	}
}

func TestAnalyze_BadResponseIsNotRetried(t *testing.T) {
	tests := map[string]agentstest.Behaviour{
		"HTML page":               agentstest.Raw(200, "text/html", "<html><body>Bad gateway, but with 200</body></html>"),
		"empty object":            agentstest.Raw(200, "application/json", "{}"),
		"result is an array":      agentstest.Raw(200, "application/json", `{"result":[],"client_summary":{}}`),
		"wrong field type":        agentstest.Raw(200, "application/json", `{"result":{"house_types":"apartment"},"client_summary":{}}`),
		"truncated JSON":          agentstest.Raw(200, "application/json", `{"result":{"house_types":[`),
		"room it was not sent":    agentstest.Raw(200, "application/json", `{"result":{"rooms":[{"room_id":"someone-elses-room"}]},"client_summary":{}}`),
		"summary of another room": agentstest.Raw(200, "application/json", `{"result":{},"client_summary":{"rooms":{"someone-elses-room":{}}}}`),
		"empty body":              agentstest.Raw(200, "application/json", ""),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			failsAtOnce(t, b, "agents_bad_response")
		})
	}
}

func TestAnalyze_NullsBecomeEmptyArraysAndObjects(t *testing.T) {
	body := `{"result":{"house_types":null,"house_checklist":{"booleans":null},
		"rooms":[{"room_id":"room-1","room_types":null,"issues":{},"products":{"categoricals":null}}],
		"summary":{"house":null},"pros_cons":{"pros":null}},
	  "client_summary":{"house":{},"rooms":{"room-1":{"booleans_true":null}},"products":null,
		"checklist_metadata":{"house":{"x":{"title":"X","options":null}}}},
	  "cost_info":null,"agent_executions":null,"metadata":null}`
	srv := agentstest.NewServer(t, agentstest.Raw(200, "application/json", body))
	resp, err := newClient(srv).Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "null") {
		t.Errorf("response still has nulls: %s", out)
	}
}

func TestAnalyze_ToleratesUnknownFields(t *testing.T) {
	body := `{"result":{"house_types":["villa"],"future":1,"rooms":[{"room_id":"room-1","extra":{"a":[1]}}]},
	  "client_summary":{"house":{"booleans_true":["pool"],"new":true}},"new_top_level":"x",
	  "metadata":{"pipeline_version":"2.1.0","gpu":"none"}}`
	srv := agentstest.NewServer(t, agentstest.Raw(200, "application/json", body))
	resp, err := newClient(srv).Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if !slices.Equal(resp.Result.HouseTypes, []string{"villa"}) || resp.Metadata.PipelineVersion != "2.1.0" ||
		!slices.Equal(resp.ClientSummary.House.BooleansTrue, []string{"pool"}) {
		t.Errorf("response = %+v", resp)
	}
}

func TestAnalyze_ChecklistThatIsNotJSONFailsWithoutACall(t *testing.T) {
	srv := agentstest.NewServer(t)
	req := scanRequest(t, srv, 1)
	req.RoomsChecklist = json.RawMessage(`{"default":`)
	_, err := newClient(srv).Analyze(context.Background(), req, nil)
	if ae := asAnalysisError(t, err); ae.Code != "agents_bad_request" || ae.Retryable || !strings.Contains(ae.Detail, "rooms_checklist") {
		t.Errorf("error = %+v, want non-retryable agents_bad_request naming rooms_checklist", ae)
	}
	if got := srv.Calls(); got != 0 {
		t.Errorf("calls = %d, want 0", got)
	}
}

func TestNew_UnusableBaseURLFailsEveryCall(t *testing.T) {
	for _, base := range []string{"", "agents:8000", "ftp://agents", "http://%zz", "http://agents:8000?x=1"} {
		c := agents.New(base)
		_, err := c.Analyze(context.Background(), analysis.Request{}, nil)
		if ae := asAnalysisError(t, err); ae.Code != "agents_misconfigured" || ae.Retryable {
			t.Errorf("base %q: error = %+v", base, ae)
		}
		if c.Health(context.Background()) == nil {
			t.Errorf("base %q: Health succeeded", base)
		}
	}
}

func TestNew_KeepsAPathPrefix(t *testing.T) {
	srv := agentstest.NewServer(t)
	// The fake serves at the root, so a kept prefix shows up as the fake's 404.
	_, err := agents.New(srv.URL+"/agents/").Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	if ae := asAnalysisError(t, err); ae.Code != "agents_http_404" {
		t.Errorf("error = %+v, want the 404 of /agents/v1/scan/run", ae)
	}
}

func TestHealth(t *testing.T) {
	srv := agentstest.NewServer(t)
	if err := agents.New(srv.URL + "/").Health(context.Background()); err != nil {
		t.Errorf("Health: %v", err)
	}
	if got := srv.HealthCalls(); got != 1 {
		t.Errorf("health calls = %d, want 1", got)
	}
	if err := agents.New(srv.URL + "/missing").Health(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("Health of a wrong path = %v, want the 404", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := agents.New("http://" + addr).Health(context.Background()); err == nil {
		t.Error("Health of a closed port succeeded")
	}
}

func TestFromEnv(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.InternalError("boom"))
	env := map[string]string{
		"PYTHON_AGENTS_BASE_URL":    srv.URL,
		"PYTHON_AGENTS_TIMEOUT":     "300000",
		"PYTHON_AGENTS_RETRY_COUNT": "1",
		"PYTHON_AGENTS_RETRY_DELAY": "1",
	}
	client, err := agents.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	// Its calls reach srv (counted below) only if PYTHON_AGENTS_BASE_URL was taken.
	_, err = client.Analyze(context.Background(), scanRequest(t, srv, 1), nil)
	if err == nil {
		t.Fatal("Analyze succeeded against a failing service")
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("calls = %d, want 2 (RETRY_COUNT=1 means one try after the first)", got)
	}

	for _, bad := range []map[string]string{
		{},
		{"PYTHON_AGENTS_BASE_URL": "http://a", "PYTHON_AGENTS_TIMEOUT": "soon"},
		{"PYTHON_AGENTS_BASE_URL": "http://a", "PYTHON_AGENTS_RETRY_COUNT": "-1"},
		{"PYTHON_AGENTS_BASE_URL": "http://a", "PYTHON_AGENTS_RETRY_DELAY": "0"},
	} {
		if _, err := agents.FromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("FromEnv(%v) succeeded", bad)
		}
	}
}
