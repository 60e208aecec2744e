package agentstest

import (
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
)

// The pipeline's constants (agents-service settings and cost_manager.py).
const (
	batchSize       = 6 // CHECKLIST_BATCH_SIZE
	model           = "gpt-4o-mini"
	promptUSDPer1K  = 0.000150
	complUSDPer1K   = 0.000600
	pipelineVersion = "2.0.0"
	pricingNote     = "Estimates based on approximate OpenAI pricing, may not reflect actual costs"
	pythonISO       = "2006-01-02T15:04:05.000000" // datetime.utcnow().isoformat(): naive UTC
)

// qualityScale is the Quality vocabulary, used when an item has no options of its own.
func qualityScale() []string { return []string{"Poor", "Average", "Good", "Excellent"} }

// runPipeline is the Succeed behaviour: fetch, check items, answer like run_scan.py.
func runPipeline(x *exchange) {
	start := time.Now()
	req := x.req

	type fetched struct {
		id     string
		images int
	}
	var processed []fetched
	total := 0
	for _, r := range req.rooms {
		if len(r.urls) == 0 {
			continue // the real service skips a room without URLs before fetching
		}
		ok := 0
		for _, f := range x.s.fetchRoom(x.r.Context(), r.id, r.urls) {
			x.recordFetch(f)
			if f.OK {
				ok++
			}
		}
		if ok > 0 {
			processed = append(processed, fetched{r.id, ok})
			total += ok
		}
	}
	if x.r.Context().Err() != nil {
		return // the client gave up while we fetched
	}
	if total == 0 {
		x.detail(http.StatusInternalServerError, "Internal server error: No images were successfully fetched")
		return
	}

	cl, err := readChecklists(req)
	if err != nil {
		x.detail(http.StatusInternalServerError, "Internal server error: Pipeline failed: "+err.Error())
		return
	}

	u := &usage{agents: map[string]*agentUsage{}}
	var houseTypes []string
	if len(cl.houseTypeNames) > 0 {
		houseTypes = []string{cl.houseTypeNames[0]}
	}
	u.call("house type", min(total, 4), 0)
	houseItems := dedupe(cl.houseDefault, cl.houseTypes[firstOr(houseTypes, "")])
	u.batches("house checklist", houseItems, min(total, 6))
	house := evaluate("house", houseItems)

	rooms := make([]wireRoom, 0, len(processed))
	roomAnswers := make([]*answers, 0, len(processed))
	productAnswers := make([]*answers, 0, len(processed))
	for i, r := range processed {
		roomTypes := []string{}
		if n := len(cl.roomTypeNames); n > 0 {
			roomTypes = append(roomTypes, cl.roomTypeNames[i%n])
		}
		u.call("room type", min(r.images, 3), 0)
		items := dedupe(cl.roomDefault, cl.roomTypes[firstOr(roomTypes, "")])
		u.batches(fmt.Sprintf("room checklist (%s)", r.id), items, min(r.images, 3))
		u.batches(fmt.Sprintf("products checklist (%s)", r.id), cl.products, min(r.images, 3))
		ra := evaluate("room:"+r.id, items)
		pa := evaluate("product:"+r.id, cl.products)
		roomAnswers, productAnswers = append(roomAnswers, ra), append(productAnswers, pa)
		rooms = append(rooms, wireRoom{RoomID: r.id, RoomTypes: roomTypes, Issues: ra.wire(), Products: pa.wire()})
	}

	summary := analysis.Summary{House: house.lines("house"), Rooms: []string{}, Products: []string{}}
	for i, r := range processed {
		summary.Rooms = append(summary.Rooms, roomAnswers[i].lines("room:"+r.id)...)
		summary.Products = append(summary.Products, productAnswers[i].lines("product:"+r.id)...)
	}
	summary.Custom = append(append(append([]string{}, summary.House...), summary.Rooms...), summary.Products...)
	// Agent 6 reads the issue lines as text: no images, a prompt that grows with the lines.
	u.call("pros/cons analysis", 0, (len(summary.Custom)+9)/10)
	pc := prosCons(house, roomAnswers, productAnswers)

	client := wireClientSummary{
		House:    house.group(),
		Rooms:    map[string]analysis.SummaryGroup{},
		Products: map[string]analysis.SummaryGroup{},
		ProsCons: pc,
		ChecklistMetadata: map[string]map[string]wireItemMeta{
			"house":    metadata(req.house),
			"rooms":    metadata(req.roomsCL),
			"products": metadata(req.products),
		},
	}
	for i, r := range processed {
		client.Rooms[r.id] = roomAnswers[i].group()
		client.Products[r.id] = productAnswers[i].group()
	}

	elapsed := time.Since(start).Seconds()
	x.replyJSON(http.StatusOK, nil, wireResponse{
		Result: wireResult{
			HouseTypes:     orEmpty(houseTypes),
			HouseChecklist: house.wire(),
			Rooms:          rooms,
			Summary:        summary,
			ProsCons:       pc,
		},
		ClientSummary:   client,
		CostInfo:        u.summary(start, elapsed),
		AgentExecutions: []any{},
		Metadata: analysis.Metadata{
			RequestID:            uuid4(),
			ExecutionTimeSeconds: round(elapsed, 2),
			Timestamp:            time.Now().UTC().Format(pythonISO),
			TotalImages:          total,
			RoomsProcessed:       len(rooms),
			PipelineVersion:      pipelineVersion,
			TotalAgentExecutions: 0,
		},
	})
}

// checklists holds the items the pipeline reads, already validated.
type checklists struct {
	houseDefault   []checklistItem
	houseTypes     map[string][]checklistItem
	houseTypeNames []string
	roomDefault    []checklistItem
	roomTypes      map[string][]checklistItem
	roomTypeNames  []string
	products       []checklistItem
}

// readChecklists reads the items as nodes.py does and validates each one as
// AgentChecklistItem: house and room items without a truthy id are skipped, product
// items are all validated. Unlike the real service it checks the items of every type,
// not only the detected ones, so a bad item cannot hide behind the detection.
func readChecklists(req *scanRequest) (*checklists, error) {
	c := &checklists{}
	var err error
	if c.houseDefault, err = itemsAt(req.house, "house_checklist", "default"); err != nil {
		return nil, err
	}
	if c.houseTypes, c.houseTypeNames, err = typedItems(req.house, "house_checklist", "house_types"); err != nil {
		return nil, err
	}
	if c.roomDefault, err = itemsAt(req.roomsCL, "rooms_checklist", "default"); err != nil {
		return nil, err
	}
	if c.roomTypes, c.roomTypeNames, err = typedItems(req.roomsCL, "rooms_checklist", "room_types"); err != nil {
		return nil, err
	}
	// products: "items", replaced by default.items when a default with items exists.
	if c.products, err = itemsAt(req.products, "products_checklist", ""); err != nil {
		return nil, err
	}
	if d, ok := req.products["default"].(map[string]any); ok {
		if _, ok := d["items"]; ok {
			if c.products, err = itemsAt(req.products, "products_checklist", "default"); err != nil {
				return nil, err
			}
		}
	}

	check := func(items []checklistItem, skipWithoutID bool) error {
		for _, it := range items {
			if skipWithoutID && !truthy(it.fields["id"]) {
				continue
			}
			if msg := checkItem(it.fields); msg != "" {
				return fmt.Errorf("%s", msg)
			}
		}
		return nil
	}
	groups := [][]checklistItem{c.houseDefault}
	for _, n := range c.houseTypeNames {
		groups = append(groups, c.houseTypes[n])
	}
	groups = append(groups, c.roomDefault)
	for _, n := range c.roomTypeNames {
		groups = append(groups, c.roomTypes[n])
	}
	for _, g := range groups {
		if err := check(g, true); err != nil {
			return nil, err
		}
	}
	if err := check(c.products, false); err != nil {
		return nil, err
	}
	// Items without an id never reach an agent; drop them now so nothing below has to care.
	c.houseDefault, c.roomDefault = withID(c.houseDefault), withID(c.roomDefault)
	for n := range c.houseTypes {
		c.houseTypes[n] = withID(c.houseTypes[n])
	}
	for n := range c.roomTypes {
		c.roomTypes[n] = withID(c.roomTypes[n])
	}
	return c, nil
}

func withID(items []checklistItem) []checklistItem {
	out := items[:0:0]
	for _, it := range items {
		if truthy(it.fields["id"]) {
			out = append(out, it)
		}
	}
	return out
}

// dedupe concatenates lists keeping the first item of each id, as nodes.py does.
func dedupe(lists ...[]checklistItem) []checklistItem {
	seen := map[string]bool{}
	var out []checklistItem
	for _, l := range lists {
		for _, it := range l {
			id, _ := it.fields["id"].(string)
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, it)
		}
	}
	return out
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}

// answers is one ChecklistEvaluationOutput, remembering item order so summary lines come
// out in the order Python's dicts would give.
type answers struct {
	items        []checklistItem
	booleans     map[string]bool
	categoricals map[string]string
	conditionals map[string]wireConditional
}

// evaluate answers every item with a plausible value that depends only on the scope and
// the item id, so runs are repeatable. Booleans are mostly false (issues are rare),
// categoricals take one of the item's own options, conditionals exist more often than
// not and then rate their subitems.
func evaluate(scope string, items []checklistItem) *answers {
	a := &answers{items: items, booleans: map[string]bool{}, categoricals: map[string]string{}, conditionals: map[string]wireConditional{}}
	for _, it := range items {
		id, _ := it.fields["id"].(string)
		typ, _ := it.fields["type"].(string)
		h := hash(scope, id)
		switch typ {
		case "boolean":
			a.booleans[id] = h%5 == 0
		case "categorical":
			a.categoricals[id] = pick(h, stringList(it.fields["options"]), "N/A")
		case "conditional":
			c := wireConditional{Exists: h%3 != 0}
			if c.Exists {
				cond := pick(h>>8, orDefault(stringList(it.fields["options"]), qualityScale()), "N/A")
				c.Condition = &cond
				subs, _ := it.fields["subitems"].([]any)
				for _, s := range subs {
					sm, _ := s.(map[string]any)
					sid, _ := sm["id"].(string)
					if sid == "" {
						continue
					}
					if c.Subitems == nil {
						c.Subitems = map[string]string{}
					}
					c.Subitems[sid] = pick(hash(scope, id, sid), orDefault(stringList(sm["options"]), qualityScale()), "N/A")
				}
			}
			a.conditionals[id] = c
		}
	}
	return a
}

func (a *answers) wire() wireEvaluation {
	return wireEvaluation{Booleans: a.booleans, Categoricals: a.categoricals, Conditionals: a.conditionals}
}

// lines is aggregation.py's _checklist_to_issue_lines.
func (a *answers) lines(prefix string) []string {
	out := []string{}
	for _, id := range a.ids("boolean") {
		if a.booleans[id] {
			out = append(out, fmt.Sprintf("%s:%s:true", prefix, id))
		}
	}
	for _, id := range a.ids("categorical") {
		if v := a.categoricals[id]; v != "" && v != "N/A" {
			out = append(out, fmt.Sprintf("%s:%s:%s", prefix, id, v))
		}
	}
	for _, id := range a.ids("conditional") {
		c := a.conditionals[id]
		if !c.Exists {
			continue
		}
		out = append(out, fmt.Sprintf("%s:%s:exists", prefix, id))
		if c.Condition != nil {
			out = append(out, fmt.Sprintf("%s:%s:condition:%s", prefix, id, *c.Condition))
		}
		for _, sid := range a.subIDs(id) {
			if v := c.Subitems[sid]; v != "" && v != "N/A" {
				out = append(out, fmt.Sprintf("%s:%s:%s:%s", prefix, id, sid, v))
			}
		}
	}
	return out
}

func (a *answers) ids(typ string) []string {
	var out []string
	for _, it := range a.items {
		if t, _ := it.fields["type"].(string); t == typ {
			id, _ := it.fields["id"].(string)
			out = append(out, id)
		}
	}
	return out
}

func (a *answers) subIDs(id string) []string {
	var out []string
	for _, it := range a.items {
		if it.fields["id"] != id {
			continue
		}
		subs, _ := it.fields["subitems"].([]any)
		for _, s := range subs {
			sm, _ := s.(map[string]any)
			if sid, _ := sm["id"].(string); sid != "" {
				out = append(out, sid)
			}
		}
	}
	return out
}

// group is aggregation.py's extract_true_and_categoricals.
func (a *answers) group() analysis.SummaryGroup {
	g := analysis.SummaryGroup{BooleansTrue: []string{}, Categoricals: a.categoricals}
	for id, v := range a.booleans {
		if v {
			g.BooleansTrue = append(g.BooleansTrue, id)
		}
	}
	sort.Strings(g.BooleansTrue)
	return g
}

func (a *answers) title(id string) string {
	for _, it := range a.items {
		if it.fields["id"] != id {
			continue
		}
		for _, k := range []string{"title", "text"} {
			if s, _ := it.fields[k].(string); s != "" {
				return s
			}
		}
	}
	return id
}

// prosCons stands in for agent 6: true booleans are cons, good ratings pros, poor ones cons.
func prosCons(house *answers, rooms, products []*answers) analysis.ProsCons {
	pc := analysis.ProsCons{Pros: []string{}, Cons: []string{}}
	for _, a := range append(append([]*answers{house}, rooms...), products...) {
		for _, id := range a.ids("boolean") {
			if a.booleans[id] {
				pc.Cons = append(pc.Cons, a.title(id)+": problem found")
			}
		}
		for _, id := range a.ids("categorical") {
			switch v := a.categoricals[id]; v {
			case "Good", "Excellent":
				pc.Pros = append(pc.Pros, fmt.Sprintf("%s is in %s condition", a.title(id), v))
			case "Poor":
				pc.Cons = append(pc.Cons, a.title(id)+" is in poor condition")
			}
		}
	}
	return pc
}

// metadata is aggregation.py's _extract_checklist_metadata.
func metadata(cl map[string]any) map[string]wireItemMeta {
	out := map[string]wireItemMeta{}
	add := func(v any) {
		list, _ := v.([]any)
		for _, it := range list {
			m, _ := it.(map[string]any)
			id, ok := m["id"].(string)
			if !ok {
				continue
			}
			meta := wireItemMeta{Title: "", Description: "", Type: "", Options: []any{}}
			if v, ok := m["title"]; ok {
				meta.Title = v
			}
			if v, ok := m["description"]; ok {
				meta.Description = v
			}
			if v, ok := m["type"]; ok {
				meta.Type = v
			}
			if v, ok := m["options"]; ok {
				meta.Options = v
			}
			out[id] = meta
		}
	}
	if d, ok := cl["default"].(map[string]any); ok {
		add(d["items"])
	}
	for _, key := range []string{"house_types", "room_types"} {
		types, _ := cl[key].(map[string]any)
		for _, t := range types {
			tm, _ := t.(map[string]any)
			add(tm["items"])
		}
	}
	add(cl["items"])
	return out
}

// usage is cost_manager.py's UsageMetrics, fed with made-up but plausible token counts.
type usage struct {
	prompt, completion, requests int
	agents                       map[string]*agentUsage
}

type agentUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	Requests         int `json:"requests"`
}

// call records one LLM call of agent label: image tokens dominate the prompt, answers
// grow with the number of items asked.
func (u *usage) call(label string, images, items int) {
	p := 600 + 280*images + 90*items
	c := 40 + 30*items
	u.prompt += p
	u.completion += c
	u.requests++
	a := u.agents[label]
	if a == nil {
		a = &agentUsage{}
		u.agents[label] = a
	}
	a.PromptTokens += p
	a.CompletionTokens += c
	a.TotalTokens += p + c
	a.Requests++
}

// batches records one call per batch of 6 items, labelled "<task>-batch<N>".
func (u *usage) batches(task string, items []checklistItem, images int) {
	for i := 0; i*batchSize < len(items); i++ {
		u.call(fmt.Sprintf("%s-batch%d", task, i+1), images, min(batchSize, len(items)-i*batchSize))
	}
}

func (u *usage) summary(start time.Time, seconds float64) wireCostInfo {
	total := u.prompt + u.completion
	promptRatio := float64(u.prompt) / float64(max(total, 1))
	cost := float64(total)*promptRatio/1000*promptUSDPer1K + float64(total)*(1-promptRatio)/1000*complUSDPer1K
	ci := wireCostInfo{
		Tokens:         map[string]int{"prompt_tokens": u.prompt, "completion_tokens": u.completion, "total_tokens": total},
		Requests:       map[string]float64{"total_requests": float64(u.requests), "avg_tokens_per_request": float64(total) / float64(max(u.requests, 1))},
		Models:         map[string]int{model: total},
		Agents:         map[string]int{},
		AgentsDetailed: map[string]agentUsage{},
		Costs: analysis.Costs{
			TotalEstimatedUSD: round(cost, 4),
			ByModel:           map[string]analysis.ModelCost{model: {Tokens: total, EstimatedCostUSD: round(cost, 4)}},
			PricingNote:       pricingNote,
		},
		Session: analysis.Session{
			DurationSeconds: round(seconds, 2),
			StartTime:       start.UTC().Format(pythonISO),
			TokensPerSecond: round(float64(total)/math.Max(seconds, 1), 2),
		},
	}
	for label, a := range u.agents {
		ci.Agents[label] = a.TotalTokens
		ci.AgentsDetailed[label] = *a
	}
	return ci
}

func hash(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum32()
}

func pick(h uint32, options []string, none string) string {
	if len(options) == 0 {
		return none
	}
	return options[int(h%uint32(len(options)))]
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func orDefault(s, def []string) []string {
	if len(s) == 0 {
		return def
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
