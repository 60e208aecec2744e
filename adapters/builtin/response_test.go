package builtin_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
)

// checklistIDs lists the item ids under the given paths of a checklist, where a path
// is "default", "items" or a types key such as "house_types" (all types).
func checklistIDs(t *testing.T, raw json.RawMessage, paths ...string) []string {
	t.Helper()
	var c struct {
		Default    struct{ Items []struct{ ID string } }
		Items      []struct{ ID string }
		HouseTypes map[string]struct{ Items []struct{ ID string } } `json:"house_types"`
		RoomTypes  map[string]struct{ Items []struct{ ID string } } `json:"room_types"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("parse checklist: %v", err)
	}
	var ids []string
	for _, p := range paths {
		switch p {
		case "default":
			for _, it := range c.Default.Items {
				ids = append(ids, it.ID)
			}
		case "items":
			for _, it := range c.Items {
				ids = append(ids, it.ID)
			}
		case "house_types", "room_types":
			types := c.HouseTypes
			if p == "room_types" {
				types = c.RoomTypes
			}
			for _, g := range types {
				for _, it := range g.Items {
					ids = append(ids, it.ID)
				}
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func TestEveryChecklistItemIsNotAssessedAndNoAnswerIsInvented(t *testing.T) {
	s, req := realScan(t)
	req.HouseChecklist, req.RoomsChecklist, req.ProductsChecklist = mergedChecklists(t)
	resp := analyze(t, s, req)
	r := resp.Result

	var want []string
	for _, id := range checklistIDs(t, req.HouseChecklist, "default", "house_types") {
		want = append(want, "house:"+id)
	}
	for _, rm := range req.Rooms {
		for _, id := range checklistIDs(t, req.RoomsChecklist, "default", "room_types") {
			want = append(want, fmt.Sprintf("room:%s:%s", rm.ID, id))
		}
		for _, id := range checklistIDs(t, req.ProductsChecklist, "items") {
			want = append(want, fmt.Sprintf("product:%s:%s", rm.ID, id))
		}
	}
	got := slices.Clone(r.NotAssessed)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("not_assessed: got %d entries, want %d\n got %q\nwant %q", len(got), len(want), got, want)
	}
	// A custom item of each scope, and "lighting", which exposure cannot answer: its
	// description asks whether the fixtures work, not whether the photo is bright.
	for _, probe := range []string{"house:roof_visibility", "room:room-a:lighting",
		"room:room-b:curtains", "product:room-a:fridge__door_condition"} {
		if !slices.Contains(r.NotAssessed, probe) {
			t.Errorf("not_assessed lacks %s", probe)
		}
	}

	evals := []analysis.Evaluation{r.HouseChecklist}
	for _, rm := range r.Rooms {
		evals = append(evals, rm.Issues, rm.Products)
	}
	for i, e := range evals {
		if len(e.Booleans)+len(e.Categoricals)+len(e.Conditionals) != 0 {
			t.Errorf("evaluation %d has invented answers: %+v", i, e)
		}
	}
	groups := []analysis.SummaryGroup{resp.ClientSummary.House}
	for _, id := range []string{"room-a", "room-b"} {
		groups = append(groups, resp.ClientSummary.Rooms[id], resp.ClientSummary.Products[id])
	}
	for i, g := range groups {
		if g.BooleansTrue == nil || g.Categoricals == nil || len(g.BooleansTrue)+len(g.Categoricals) != 0 {
			t.Errorf("client_summary group %d: got %+v, want empty non-nil", i, g)
		}
	}
	for _, l := range r.Summary.Custom {
		if !strings.Contains(l, ":image_check:") {
			t.Errorf("summary line %q is not an image check", l)
		}
	}
	if !slices.Contains(r.ProsCons.Cons, fmt.Sprintf(
		"%d checklist items were not assessed: this offline analysis checks photo quality only", len(want))) {
		t.Errorf("cons do not say the checklist was not assessed: %q", r.ProsCons.Cons)
	}
}

func TestProductsDefaultItemsReplaceTopLevelItems(t *testing.T) {
	s, req := quickScan(t)
	req.ProductsChecklist = json.RawMessage(`{"items":[{"id":"old","type":"boolean"}],"default":{"items":[{"id":"new","type":"boolean"}]}}`)
	r := analyze(t, s, req).Result
	if !slices.Contains(r.NotAssessed, "product:room-a:new") || slices.Contains(r.NotAssessed, "product:room-a:old") {
		t.Errorf("not_assessed: got %q; the agents read default.items instead of items", r.NotAssessed)
	}
}

func TestChecklistMetadataDescribesEveryItemOfTheRequestChecklists(t *testing.T) {
	s, req := quickScan(t)
	dir := sharedDir(t, "data", "checklists", "housescanner")
	read := func(name string) json.RawMessage {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The files as shipped keep their key order, which decides the last-wins case.
	req.HouseChecklist = read("house_type_checklist.json")
	req.RoomsChecklist = read("rooms_type_checklist.json")
	req.ProductsChecklist = read("products_type_checklist.json")
	md := analyze(t, s, req).ClientSummary.ChecklistMetadata

	for _, tc := range []struct {
		scope string
		got   map[string]analysis.ItemMetadata
		want  []string
	}{
		{"house", md.House, checklistIDs(t, req.HouseChecklist, "default", "house_types")},
		{"rooms", md.Rooms, checklistIDs(t, req.RoomsChecklist, "default", "room_types")},
		{"products", md.Products, checklistIDs(t, req.ProductsChecklist, "items")},
	} {
		var keys []string
		for k, m := range tc.got {
			keys = append(keys, k)
			if m.Title == "" || m.Type == "" || m.Options == nil {
				t.Errorf("%s %s: incomplete metadata %+v", tc.scope, k, m)
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, tc.want) {
			t.Errorf("%s metadata ids: got %q, want %q", tc.scope, keys, tc.want)
		}
	}
	if m := md.House["water_damage"]; m.Title != "Water Damage" || m.Type != "boolean" || len(m.Options) != 0 {
		t.Errorf("water_damage: got %+v", m)
	}
	if m := md.House["overall_cleanliness"]; !slices.Equal(m.Options, []string{"Poor", "Average", "Good", "Excellent"}) {
		t.Errorf("overall_cleanliness options: got %q", m.Options)
	}
	// balcony is listed under apartment, studio and penthouse (last in the file); as
	// in the agents-service, the last definition wins.
	var house struct {
		HouseTypes map[string]struct {
			Items []struct{ ID, Description string }
		} `json:"house_types"`
	}
	if err := json.Unmarshal(req.HouseChecklist, &house); err != nil {
		t.Fatal(err)
	}
	for _, it := range house.HouseTypes["penthouse"].Items {
		if it.ID == "balcony" && md.House["balcony"].Description != it.Description {
			t.Errorf("balcony description: got %q, want penthouse's %q", md.House["balcony"].Description, it.Description)
		}
	}
}

// nulls lists the JSON paths holding null.
func nulls(v any, path string, out *[]string) {
	switch x := v.(type) {
	case nil:
		*out = append(*out, path)
	case map[string]any:
		for k, e := range x {
			nulls(e, path+"."+k, out)
		}
	case []any:
		for i, e := range x {
			nulls(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

func TestResponseJSONHasNoNulls(t *testing.T) {
	s, req := quickScan(t)
	req.HouseChecklist, req.RoomsChecklist, req.ProductsChecklist = mergedChecklists(t)
	req.Rooms = append(req.Rooms, analysis.Room{ID: "empty-room"})
	b, err := json.Marshal(analyze(t, s, req))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var found []string
	nulls(v, "$", &found)
	if len(found) != 0 {
		t.Errorf("null at %q", found)
	}
	res := v["result"].(map[string]any)
	room := res["rooms"].([]any)[0].(map[string]any)
	cs := v["client_summary"].(map[string]any)
	csRoom := cs["rooms"].(map[string]any)["room-a"].(map[string]any)
	for name, x := range map[string]any{
		"house_types": res["house_types"], "room_types": room["room_types"], "pros": res["pros_cons"].(map[string]any)["pros"],
		"cons": res["pros_cons"].(map[string]any)["cons"], "agent_executions": v["agent_executions"],
		"booleans_true": csRoom["booleans_true"],
	} {
		if _, ok := x.([]any); !ok {
			t.Errorf("%s: got %T, want an array", name, x)
		}
	}
	for name, x := range map[string]any{
		"categoricals": csRoom["categoricals"], "booleans": room["issues"].(map[string]any)["booleans"],
		"conditionals": room["products"].(map[string]any)["conditionals"], "models": v["cost_info"].(map[string]any)["models"],
	} {
		if _, ok := x.(map[string]any); !ok {
			t.Errorf("%s: got %T, want an object", name, x)
		}
	}
}

func TestCostInfoAndMetadataSayNoModelRan(t *testing.T) {
	s, req := quickScan(t)
	before := time.Now().UTC().Add(-time.Second)
	resp := analyze(t, s, req)
	c, m := resp.CostInfo, resp.Metadata
	if c.Tokens != (analysis.Tokens{}) || c.Requests != (analysis.Requests{}) || c.Costs.TotalEstimatedUSD != 0 {
		t.Errorf("cost: got %+v, want zero", c)
	}
	if len(c.Models) != 0 || len(c.Costs.ByModel) != 0 || !strings.Contains(c.Costs.PricingNote, "No model was called") {
		t.Errorf("cost models/note: got %+v", c)
	}
	if u, ok := c.AgentsDetailed["image checks"]; !ok || u != (analysis.AgentUsage{}) {
		t.Errorf("agents_detailed: got %+v, want a zero entry for the image checks stage", c.AgentsDetailed)
	}
	const naive = "2006-01-02T15:04:05.999999"
	start, err := time.Parse(naive, c.Session.StartTime)
	if err != nil || start.Before(before) || strings.HasSuffix(c.Session.StartTime, "Z") {
		t.Errorf("session start_time %q: want naive UTC ISO, now-ish (%v)", c.Session.StartTime, err)
	}
	if ts, err := time.Parse(naive, m.Timestamp); err != nil || ts.Before(start) {
		t.Errorf("metadata timestamp %q: %v", m.Timestamp, err)
	}
	if !domain.ValidID(m.RequestID) || m.PipelineVersion != "builtin-1" || m.TotalAgentExecutions != 0 ||
		m.ExecutionTimeSeconds < 0 || c.Session.DurationSeconds != m.ExecutionTimeSeconds {
		t.Errorf("metadata: got %+v", m)
	}
	if resp.AgentExecutions == nil || len(resp.AgentExecutions) != 0 {
		t.Errorf("agent_executions: got %v, want []", resp.AgentExecutions)
	}
}
