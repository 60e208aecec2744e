package agentstest_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
)

func photo(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 32, 32)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type answer struct {
	status int
	body   []byte
}

func (a answer) detail(t *testing.T) any {
	t.Helper()
	var v struct{ Detail any }
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer %s is not JSON: %v", a.body, err)
	}
	return v.Detail
}

func post(t *testing.T, srv *agentstest.Server, contentType, body string) answer {
	t.Helper()
	resp, err := http.Post(srv.URL+"/v1/scan/run", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return answer{resp.StatusCode, data}
}

// body is a valid request for one room with one fetchable photo, with the given
// checklists (JSON text).
func body(t *testing.T, srv *agentstest.Server, house, rooms, products string) string {
	t.Helper()
	url := srv.ServeImage("image/jpeg", photo(t))
	return `{"rooms":[{"room_id":"r1","image_urls":["` + url + `"]}],"house_checklist":` + house +
		`,"rooms_checklist":` + rooms + `,"products_checklist":` + products + `}`
}

func TestServer_RejectsStrayItemKeysWith500AsTheContractSays(t *testing.T) {
	stray := `{"id":"x","type":"boolean","title":"X","appliesTo":"default"}`
	tests := map[string][3]string{
		"house default":               {`{"default":{"items":[` + stray + `]}}`, `{}`, `{}`},
		"a house type never detected": {`{"house_types":{"apartment":{"items":[]},"villa":{"items":[` + stray + `]}}}`, `{}`, `{}`},
		"rooms default":               {`{}`, `{"default":{"items":[` + stray + `]}}`, `{}`},
		"a room type":                 {`{}`, `{"room_types":{"office":{"items":[` + stray + `]}}}`, `{}`},
		"products items":              {`{}`, `{}`, `{"items":[` + stray + `]}`},
		"products default items":      {`{}`, `{}`, `{"items":[],"default":{"items":[` + stray + `]}}`},
	}
	for name, cl := range tests {
		t.Run(name, func(t *testing.T) {
			srv := agentstest.NewServer(t)
			a := post(t, srv, "application/json", body(t, srv, cl[0], cl[1], cl[2]))
			want := "Internal server error: Pipeline failed: 1 validation error for AgentChecklistItem\nappliesTo\n  Extra inputs are not permitted [type=extra_forbidden, input_value='default', input_type=str]"
			if d, _ := a.detail(t).(string); a.status != 500 || !strings.HasPrefix(d, want) {
				t.Errorf("answer %d %q, want 500 starting %q", a.status, d, want)
			}
		})
	}
}

func TestServer_AcceptsEveryAllowedItemKey(t *testing.T) {
	srv := agentstest.NewServer(t)
	item := `{"id":"balcony","type":"conditional","text":"Balcony?","title":"Balcony","description":"d","options":["Poor","Good"],
		"subitems":[{"id":"railing","title":"Railing","type":"categorical","options":["Poor","Good"],"anything":"goes in subitems"}]}`
	a := post(t, srv, "application/json", body(t, srv, `{"default":{"description":"x","items":[`+item+`]}}`, `{}`, `{}`))
	if a.status != 200 {
		t.Fatalf("answer %d %s, want 200", a.status, a.body)
	}
}

func TestServer_ItemNeedsAType(t *testing.T) {
	srv := agentstest.NewServer(t)
	a := post(t, srv, "application/json", body(t, srv, `{"default":{"items":[{"id":"x","title":"X"}]}}`, `{}`, `{}`))
	if d, _ := a.detail(t).(string); a.status != 500 || !strings.Contains(d, "type\n  Field required [type=missing") {
		t.Errorf("answer %d %q, want 500 with pydantic's missing type", a.status, d)
	}
}

func TestServer_SkipsHouseAndRoomItemsWithoutIDButNotProducts(t *testing.T) {
	noID := `{"title":"no id","whatever":1}`
	srv := agentstest.NewServer(t)
	a := post(t, srv, "application/json", body(t, srv, `{"default":{"items":[`+noID+`]}}`, `{"default":{"items":[`+noID+`]}}`, `{}`))
	if a.status != 200 {
		t.Errorf("house/room item without id: answer %d %s, want 200 (skipped as nodes.py does)", a.status, a.body)
	}
	a = post(t, srv, "application/json", body(t, srv, `{}`, `{}`, `{"items":[`+noID+`]}`))
	if d, _ := a.detail(t).(string); a.status != 500 || !strings.Contains(d, "id\n  Field required") {
		t.Errorf("product item without id: answer %d %q, want 500", a.status, d)
	}
}

func TestServer_RequiresAllFourKeysWith422(t *testing.T) {
	srv := agentstest.NewServer(t)
	a := post(t, srv, "application/json", `{"rooms":[{"room_id":"r1","image_urls":[]}],"house_checklist":{},"rooms_checklist":{}}`)
	if a.status != 422 {
		t.Fatalf("status %d, want 422", a.status)
	}
	var got struct {
		Detail []agentstest.ValidationError `json:"detail"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Detail) != 1 || got.Detail[0].Type != "missing" || got.Detail[0].Msg != "Field required" ||
		!reflect.DeepEqual(got.Detail[0].Loc, []any{"body", "products_checklist"}) {
		t.Errorf("detail = %+v, want one pydantic 'missing' error at body.products_checklist", got.Detail)
	}
}

func TestServer_ValidatesShapesLikeFastAPI(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		wantType                string
		wantLoc                 []any
	}{
		{"not JSON", "application/json", `{"rooms":`, "json_invalid", []any{"body", float64(9)}},
		{"not a JSON content type", "text/plain", `{}`, "model_attributes_type", []any{"body"}},
		{"array body", "application/json", `[]`, "model_attributes_type", []any{"body"}},
		{"rooms not a list", "application/json", `{"rooms":{},"house_checklist":{},"rooms_checklist":{},"products_checklist":{}}`, "list_type", []any{"body", "rooms"}},
		{"room id not a string", "application/json", `{"rooms":[{"room_id":7,"image_urls":[]}],"house_checklist":{},"rooms_checklist":{},"products_checklist":{}}`, "string_type", []any{"body", "rooms", float64(0), "room_id"}},
		{"url not a string", "application/json", `{"rooms":[{"room_id":"r","image_urls":[1]}],"house_checklist":{},"rooms_checklist":{},"products_checklist":{}}`, "string_type", []any{"body", "rooms", float64(0), "image_urls", float64(0)}},
		{"checklist null", "application/json", `{"rooms":[],"house_checklist":null,"rooms_checklist":{},"products_checklist":{}}`, "dict_type", []any{"body", "house_checklist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := agentstest.NewServer(t)
			a := post(t, srv, tt.contentType, tt.body)
			var got struct {
				Detail []agentstest.ValidationError `json:"detail"`
			}
			if err := json.Unmarshal(a.body, &got); err != nil || a.status != 422 || len(got.Detail) != 1 {
				t.Fatalf("answer %d %s, want 422 with one error", a.status, a.body)
			}
			if e := got.Detail[0]; e.Type != tt.wantType || !reflect.DeepEqual(e.Loc, tt.wantLoc) {
				t.Errorf("error = %+v, want type %s at %v", e, tt.wantType, tt.wantLoc)
			}
		})
	}
}

func TestServer_RejectsNoRoomsWith400(t *testing.T) {
	srv := agentstest.NewServer(t)
	a := post(t, srv, "application/json", `{"rooms":[],"house_checklist":{},"rooms_checklist":{},"products_checklist":{}}`)
	if a.status != 400 || string(a.body) != `{"detail":"At least one room must be provided"}` {
		t.Errorf("answer %d %s", a.status, a.body)
	}
}

func TestServer_FetchesImagesLikeTheRealService(t *testing.T) {
	srv := agentstest.NewServer(t)
	jpg := photo(t)
	good := srv.ServeImage("image/jpeg", jpg)
	heic := srv.ServeImage("image/heic", jpg)
	tiny := srv.ServeImage("image/png", jpg[:50])
	withParams := srv.ServeImage("IMAGE/JPEG; charset=binary", jpg)
	redirect := httptest.NewServer(http.RedirectHandler(good, http.StatusFound))
	defer redirect.Close()
	gotUA := make(chan string, 1)
	ua := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA <- r.UserAgent()
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpg)
	}))
	defer ua.Close()

	req := map[string]any{
		"rooms": []any{
			map[string]any{"room_id": "ok", "image_urls": []any{good, heic, tiny, withParams, ua.URL, srv.URL + "/images/404"}},
			map[string]any{"room_id": "nothing-usable", "image_urls": []any{redirect.URL, "ftp://example.com/a.jpg", "http:///nohost.jpg"}},
			map[string]any{"room_id": "no-urls", "image_urls": []any{}},
		},
		"house_checklist": map[string]any{}, "rooms_checklist": map[string]any{}, "products_checklist": map[string]any{},
	}
	data, _ := json.Marshal(req)
	a := post(t, srv, "application/json", string(data))
	if a.status != 200 {
		t.Fatalf("answer %d %s", a.status, a.body)
	}
	if got := <-gotUA; got != "HouseCheck/2.0 Image Fetcher" {
		t.Errorf("User-Agent = %q", got)
	}

	ok := map[string]bool{}
	for _, f := range srv.Fetches() {
		ok[f.URL] = f.OK
		if !f.OK && f.Reason == "" {
			t.Errorf("fetch %s skipped without a reason", f.URL)
		}
	}
	want := map[string]bool{
		good: true, withParams: true, ua.URL: true,
		heic: false, tiny: false, srv.URL + "/images/404": false,
		redirect.URL: false, "ftp://example.com/a.jpg": false, "http:///nohost.jpg": false,
	}
	if !reflect.DeepEqual(ok, want) {
		t.Errorf("fetched OK = %v, want %v", ok, want)
	}

	var resp struct {
		Result struct {
			Rooms []struct {
				RoomID string `json:"room_id"`
			} `json:"rooms"`
		} `json:"result"`
		Metadata struct {
			TotalImages    int `json:"total_images"`
			RoomsProcessed int `json:"rooms_processed"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(a.body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Result.Rooms) != 1 || resp.Result.Rooms[0].RoomID != "ok" || resp.Metadata.TotalImages != 3 || resp.Metadata.RoomsProcessed != 1 {
		t.Errorf("response = %+v, want only room ok with its 3 usable photos", resp)
	}
}

func TestServer_NoUsableImageIs500(t *testing.T) {
	srv := agentstest.NewServer(t)
	a := post(t, srv, "application/json", `{"rooms":[{"room_id":"r","image_urls":["`+srv.URL+`/images/none"]}],"house_checklist":{},"rooms_checklist":{},"products_checklist":{}}`)
	if d, _ := a.detail(t).(string); a.status != 500 || d != "Internal server error: No images were successfully fetched" {
		t.Errorf("answer %d %s", a.status, a.body)
	}
}

func TestServer_SuccessHasEverySection54Key(t *testing.T) {
	srv := agentstest.NewServer(t)
	house, err := os.ReadFile(filepath.Join("..", "testdata", "house_type_checklist.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := post(t, srv, "application/json", body(t, srv, string(house), `{}`, `{}`))
	if a.status != 200 {
		t.Fatalf("answer %d %s", a.status, a.body)
	}
	var got struct {
		Result          map[string]any  `json:"result"`
		ClientSummary   map[string]any  `json:"client_summary"`
		CostInfo        map[string]any  `json:"cost_info"`
		AgentExecutions json.RawMessage `json:"agent_executions"`
		Metadata        map[string]any  `json:"metadata"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	objects := map[string]map[string]any{
		"result": got.Result, "client_summary": got.ClientSummary, "cost_info": got.CostInfo, "metadata": got.Metadata,
	}
	want := map[string][]string{
		"result":         {"house_types", "house_checklist", "rooms", "summary", "pros_cons"},
		"client_summary": {"house", "rooms", "products", "pros_cons", "checklist_metadata"},
		"cost_info":      {"tokens", "requests", "models", "agents", "agents_detailed", "costs", "session"},
		"metadata":       {"request_id", "execution_time_seconds", "timestamp", "total_images", "rooms_processed", "pipeline_version", "total_agent_executions"},
	}
	for top, keys := range want {
		for _, k := range keys {
			if _, ok := objects[top][k]; !ok {
				t.Errorf("%s.%s missing", top, k)
			}
		}
	}
	// The objects inside with fixed keys, written out from the contract (§5.4) rather
	// than from the Go types the fake encodes with, so that a tag changed in those
	// shared types cannot change the fake's answer unnoticed.
	nested := map[string][]string{
		"result.house_checklist":            {"booleans", "categoricals", "conditionals"},
		"result.summary":                    {"house", "rooms", "products", "custom"},
		"result.pros_cons":                  {"pros", "cons"},
		"client_summary.house":              {"booleans_true", "categoricals"},
		"client_summary.pros_cons":          {"pros", "cons"},
		"client_summary.checklist_metadata": {"house", "rooms", "products"},
		"cost_info.tokens":                  {"prompt_tokens", "completion_tokens", "total_tokens"},
		"cost_info.requests":                {"total_requests", "avg_tokens_per_request"},
		"cost_info.costs":                   {"total_estimated_usd", "by_model", "pricing_note"},
		"cost_info.session":                 {"duration_seconds", "start_time", "tokens_per_second"},
	}
	for path, keys := range nested {
		top, inner, _ := strings.Cut(path, ".")
		obj, ok := objects[top][inner].(map[string]any)
		if !ok {
			t.Errorf("%s = %v, want an object", path, objects[top][inner])
			continue
		}
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s.%s missing", path, k)
			}
		}
	}
	if string(got.AgentExecutions) != "[]" {
		t.Errorf("agent_executions = %s, want []", got.AgentExecutions)
	}
}

func TestServer_ScriptsBehavioursAndCountsCalls(t *testing.T) {
	srv := agentstest.NewServer(t, agentstest.InternalError("first"), agentstest.Detail(503, "second"))
	req := body(t, srv, `{}`, `{}`, `{}`)
	for _, want := range []int{500, 503, 503} {
		if a := post(t, srv, "application/json", req); a.status != want {
			t.Errorf("status %d, want %d", a.status, want)
		}
	}
	srv.SetBehaviours(agentstest.Succeed())
	if a := post(t, srv, "application/json", req); a.status != 200 {
		t.Errorf("after SetBehaviours: status %d, want 200", a.status)
	}
	calls := srv.Requests()
	if srv.Calls() != 4 || len(calls) != 4 {
		t.Fatalf("calls = %d, want 4", srv.Calls())
	}
	for i, c := range calls {
		if c.N != i+1 || string(c.Body) != req {
			t.Errorf("call %d = N %d body %q", i, c.N, c.Body)
		}
	}
	if calls[0].Status != 500 || !strings.Contains(string(calls[0].Answer), "Internal server error: first") {
		t.Errorf("first call recorded %d %s", calls[0].Status, calls[0].Answer)
	}
}

func TestServer_Health(t *testing.T) {
	srv := agentstest.NewServer(t)
	resp, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(data) != `{"service":"housecheck","status":"healthy","version":"2.0.0"}` {
		t.Errorf("health = %d %s", resp.StatusCode, data)
	}
}
