package agents

import (
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
)

// The service reports nothing until it answers, minutes later (section 8.2 has nothing
// between 20 and 90). The client fills the gap with an estimate: honest about being one
// (it never reaches 85, where only a real answer may take it) and never going backwards.
const (
	startPercent   = 20
	ceilingPercent = 85
	stageAnalyzing = "Analyzing images"
	// checklistBatch is the service's CHECKLIST_BATCH_SIZE: items per LLM call.
	checklistBatch = 6
)

type progress struct {
	clock    Clock
	report   func(analysis.Progress)
	estimate time.Duration
	start    time.Time
	done     chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex // serialises report calls, which need not be goroutine-safe
	stage   string
	finish  time.Time // when the current try is expected to answer
	percent int
	stopped bool
}

// startProgress reports the start and then ticks until stop.
func startProgress(clock Clock, tick, estimate time.Duration, report func(analysis.Progress)) *progress {
	now := clock.Now()
	estimate = max(estimate, time.Second) // the percentage divides by it
	p := &progress{
		clock: clock, report: report, estimate: estimate, start: now,
		done: make(chan struct{}), stage: stageAnalyzing, finish: now.Add(estimate), percent: startPercent,
	}
	p.emit()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.done:
				return
			case <-clock.After(tick):
				p.emit()
			}
		}
	}()
	return p
}

// retrying names the next try and expects its answer a full estimate after wait.
func (p *progress) retrying(stage string, wait time.Duration) {
	p.mu.Lock()
	p.stage = stage
	p.finish = p.clock.Now().Add(wait + p.estimate)
	p.mu.Unlock()
	p.emit()
}

// stop ends the ticking; no report is made once it returns, so none can follow the
// result the worker is about to record.
func (p *progress) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	close(p.done)
	p.wg.Wait()
}

// emit reports the percentage 20 + 65·(1 − e^(−2t/estimate)): 76 when the estimate is
// used up, 84 at twice it, and never 85.
func (p *progress) emit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	now := p.clock.Now()
	x := 2 * float64(now.Sub(p.start)) / float64(p.estimate)
	pct := startPercent + int((ceilingPercent-startPercent)*(1-math.Exp(-x)))
	pct = min(max(pct, p.percent), ceilingPercent-1)
	p.percent = pct
	// Past the estimate the remaining time is unknown, which Progress spells 0.
	eta := max(p.finish.Sub(now), 0)
	p.report(analysis.Progress{Percent: pct, Stage: p.stage, ETA: eta})
}

// expectedLLMCalls is section 5.5's count: 1 (house type) + ⌈house items/6⌉ + rooms ×
// (1 + ⌈room items/6⌉ + ⌈product items/6⌉) + 1 (pros/cons). Which types the service
// detects is unknown beforehand, so the house and room counts take the default items plus
// the largest type; rooms without photos are skipped by the service and not counted.
func expectedLLMCalls(req analysis.Request) int {
	house := itemsWithLargestType(req.HouseChecklist, "house_types")
	room := itemsWithLargestType(req.RoomsChecklist, "room_types")
	products := productItems(req.ProductsChecklist)
	rooms := 0
	for _, r := range req.Rooms {
		if len(r.Images) > 0 {
			rooms++
		}
	}
	return 1 + batches(house) + rooms*(1+batches(room)+batches(products)) + 1
}

func batches(items int) int { return (items + checklistBatch - 1) / checklistBatch }

// itemsWithLargestType counts distinct item ids of default.items plus the type (under
// typesKey) that adds the most. A checklist it cannot read counts as empty: this is only
// an estimate, and the service is the judge of the checklist.
func itemsWithLargestType(raw json.RawMessage, typesKey string) int {
	var cl map[string]any
	if json.Unmarshal(raw, &cl) != nil {
		return 0
	}
	base := itemIDs(itemList(cl["default"]), nil)
	best := len(base)
	types, _ := cl[typesKey].(map[string]any)
	for _, t := range types {
		best = max(best, len(itemIDs(itemList(t), base)))
	}
	return best
}

// productItems counts products_checklist.items, or default.items when a default with
// items exists (it replaces them, section 5.3).
func productItems(raw json.RawMessage) int {
	var cl map[string]any
	if json.Unmarshal(raw, &cl) != nil {
		return 0
	}
	if d, ok := cl["default"].(map[string]any); ok {
		if list, ok := d["items"].([]any); ok {
			return len(list)
		}
	}
	list, _ := cl["items"].([]any)
	return len(list)
}

func itemList(holder any) []any {
	m, _ := holder.(map[string]any)
	list, _ := m["items"].([]any)
	return list
}

// itemIDs returns base plus the string ids of items, without duplicates; the service
// skips items without an id.
func itemIDs(items []any, base map[string]bool) map[string]bool {
	out := make(map[string]bool, len(base)+len(items))
	for id := range base {
		out[id] = true
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		if id, _ := m["id"].(string); id != "" {
			out[id] = true
		}
	}
	return out
}
