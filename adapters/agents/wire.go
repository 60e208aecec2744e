package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/scanledger/scanledger/domain/analysis"
)

// scanRequest is ScanRequest of section 5.3. Exactly these four keys: the service ignores
// extra top-level keys today, but sending only what the contract names keeps it that way.
type scanRequest struct {
	Rooms             []scanRoom      `json:"rooms"`
	HouseChecklist    json.RawMessage `json:"house_checklist"`
	RoomsChecklist    json.RawMessage `json:"rooms_checklist"`
	ProductsChecklist json.RawMessage `json:"products_checklist"`
}

type scanRoom struct {
	RoomID    string   `json:"room_id"`
	ImageURLs []string `json:"image_urls"`
}

// encodeRequest builds the 5.3 body. Checklists go through as given (domain/checklist
// already reduced the items to the keys the service accepts); a missing one is sent as
// {}, which the service accepts, because null would be a 422.
func encodeRequest(req analysis.Request) ([]byte, error) {
	body := scanRequest{Rooms: make([]scanRoom, 0, len(req.Rooms))}
	for _, r := range req.Rooms {
		room := scanRoom{RoomID: r.ID, ImageURLs: make([]string, 0, len(r.Images))}
		for _, im := range r.Images {
			room.ImageURLs = append(room.ImageURLs, im.URL)
		}
		body.Rooms = append(body.Rooms, room)
	}
	for _, f := range []struct {
		name string
		src  json.RawMessage
		dst  *json.RawMessage
	}{
		{"house_checklist", req.HouseChecklist, &body.HouseChecklist},
		{"rooms_checklist", req.RoomsChecklist, &body.RoomsChecklist},
		{"products_checklist", req.ProductsChecklist, &body.ProductsChecklist},
	} {
		raw := bytes.TrimSpace(f.src)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			raw = []byte("{}")
		}
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%s is not valid JSON", f.name)
		}
		*f.dst = raw
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode scan request: %w", err)
	}
	return data, nil
}

// decodeResponse decodes a 200 body into an analysis.Response with no nil slice or map
// where the PWA expects an array or object. Unknown fields are ignored so the service
// may add some; a missing result or client_summary, a wrong type, or a room the request
// did not name is an error, as the worker would otherwise store nonsense.
func decodeResponse(data []byte, req analysis.Request) (*analysis.Response, error) {
	var top struct {
		Result        json.RawMessage `json:"result"`
		ClientSummary json.RawMessage `json:"client_summary"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("response is not the scan JSON: %w (body starts %s)", err, snippet(data))
	}
	if !isObject(top.Result) {
		return nil, fmt.Errorf(`response has no "result" object (body starts %s)`, snippet(data))
	}
	if !isObject(top.ClientSummary) {
		return nil, fmt.Errorf(`response has no "client_summary" object (body starts %s)`, snippet(data))
	}
	var resp analysis.Response
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("response is not the scan JSON: %w", err)
	}
	known := make(map[string]bool, len(req.Rooms))
	for _, r := range req.Rooms {
		known[r.ID] = true
	}
	for _, r := range resp.Result.Rooms {
		if !known[r.RoomID] {
			return nil, fmt.Errorf("response names room %q, which the request did not send", r.RoomID)
		}
	}
	for _, m := range []map[string]analysis.SummaryGroup{resp.ClientSummary.Rooms, resp.ClientSummary.Products} {
		for id := range m {
			if !known[id] {
				return nil, fmt.Errorf("client_summary names room %q, which the request did not send", id)
			}
		}
	}
	normalize(&resp)
	return &resp, nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func snippet(data []byte) string {
	const n = 120
	s := string(data)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return strconv.Quote(s)
}

// normalize replaces nil slices and maps with empty ones, since the service's nulls and
// missing keys must not reach the PWA as null where it iterates. Conditional.Subitems
// stays null when absent: that is the contract's own value for "no subitems".
func normalize(r *analysis.Response) {
	res := &r.Result
	res.HouseTypes = emptySlice(res.HouseTypes)
	normalizeEvaluation(&res.HouseChecklist)
	res.Rooms = emptySlice(res.Rooms)
	for i := range res.Rooms {
		res.Rooms[i].RoomTypes = emptySlice(res.Rooms[i].RoomTypes)
		normalizeEvaluation(&res.Rooms[i].Issues)
		normalizeEvaluation(&res.Rooms[i].Products)
	}
	res.Summary.House = emptySlice(res.Summary.House)
	res.Summary.Rooms = emptySlice(res.Summary.Rooms)
	res.Summary.Products = emptySlice(res.Summary.Products)
	res.Summary.Custom = emptySlice(res.Summary.Custom)
	normalizeProsCons(&res.ProsCons)

	cs := &r.ClientSummary
	normalizeGroup(&cs.House)
	cs.Rooms = normalizeGroups(cs.Rooms)
	cs.Products = normalizeGroups(cs.Products)
	normalizeProsCons(&cs.ProsCons)
	cs.ChecklistMetadata.House = normalizeMetadata(cs.ChecklistMetadata.House)
	cs.ChecklistMetadata.Rooms = normalizeMetadata(cs.ChecklistMetadata.Rooms)
	cs.ChecklistMetadata.Products = normalizeMetadata(cs.ChecklistMetadata.Products)

	ci := &r.CostInfo
	ci.Models = emptyMap(ci.Models)
	ci.Agents = emptyMap(ci.Agents)
	ci.AgentsDetailed = emptyMap(ci.AgentsDetailed)
	ci.Costs.ByModel = emptyMap(ci.Costs.ByModel)

	r.AgentExecutions = emptySlice(r.AgentExecutions)
}

func normalizeEvaluation(e *analysis.Evaluation) {
	e.Booleans = emptyMap(e.Booleans)
	e.Categoricals = emptyMap(e.Categoricals)
	e.Conditionals = emptyMap(e.Conditionals)
}

func normalizeProsCons(p *analysis.ProsCons) {
	p.Pros = emptySlice(p.Pros)
	p.Cons = emptySlice(p.Cons)
}

func normalizeGroup(g *analysis.SummaryGroup) {
	g.BooleansTrue = emptySlice(g.BooleansTrue)
	g.Categoricals = emptyMap(g.Categoricals)
}

func normalizeGroups(m map[string]analysis.SummaryGroup) map[string]analysis.SummaryGroup {
	m = emptyMap(m)
	for k, g := range m {
		normalizeGroup(&g)
		m[k] = g
	}
	return m
}

func normalizeMetadata(m map[string]analysis.ItemMetadata) map[string]analysis.ItemMetadata {
	m = emptyMap(m)
	for k, it := range m {
		it.Options = emptySlice(it.Options)
		m[k] = it
	}
	return m
}

func emptySlice[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

func emptyMap[M ~map[K]V, K comparable, V any](m M) M {
	if m == nil {
		return M{}
	}
	return m
}

// describe renders an error answer as "HTTP <status>: <what the service said>". FastAPI
// puts it in "detail": a string (400, 500 "Internal server error: ..."), or for 422 a list
// of pydantic errors, rendered one per line as "loc.path: msg (type)".
func describe(status int, body []byte) string {
	prefix := "HTTP " + strconv.Itoa(status)
	var envelope struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(body, &envelope); err == nil && len(envelope.Detail) > 0 && string(envelope.Detail) != "null" {
		return prefix + ": " + renderDetail(envelope.Detail)
	}
	if text := strings.Join(strings.Fields(string(body)), " "); text != "" {
		return prefix + ": " + text
	}
	return prefix + " " + http.StatusText(status)
}

func renderDetail(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []struct {
		Loc  []any  `json:"loc"`
		Msg  string `json:"msg"`
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		lines := make([]string, 0, len(list))
		for _, e := range list {
			loc := make([]string, 0, len(e.Loc))
			for _, p := range e.Loc {
				loc = append(loc, fmt.Sprint(p))
			}
			line := strings.Join(loc, ".")
			if line != "" {
				line += ": "
			}
			line += e.Msg
			if e.Type != "" {
				line += " (" + e.Type + ")"
			}
			lines = append(lines, line)
		}
		return strings.Join(lines, "\n")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return string(raw)
	}
	return compact.String()
}
