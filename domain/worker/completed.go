package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/scan"
)

// Completed maps an analyzer response onto the Completed event of an attempt, the way
// the original backend saved results (contract section 8.3), with its gap closed: the
// agents-service always sends agent_executions [], so agent runs are derived from
// cost_info.agents_detailed, and a paid run never ends with no agents_runs rows.
//
// With prices, each run is linked to its model's price in effect when it started, and
// when the analyzer reported tokens but no cost, the runs are priced from the registry
// and cost_info's total is that sum, so the summary page and the analytics read the
// same numbers. A failed price look-up is an error that is not the result's fault.
func Completed(ctx context.Context, resp *analysis.Response, attempt int, started, finished time.Time, prices Prices) (scan.Completed, error) {
	c := scan.Completed{
		Attempt:         attempt,
		HouseTypes:      nonNil(resp.Result.HouseTypes),
		PipelineVersion: resp.Metadata.PipelineVersion,
	}
	if c.PipelineVersion == "" {
		c.PipelineVersion = "2.0.0"
	}
	for _, r := range resp.Result.Rooms {
		c.Rooms = append(c.Rooms, scan.RoomTypes{RoomID: r.RoomID, RoomTypes: nonNil(r.RoomTypes)})
	}
	var err error
	if c.ClientSummary, err = json.Marshal(resp.ClientSummary); err != nil {
		return c, fmt.Errorf("encode client summary: %w", err)
	}
	pc := resp.Result.ProsCons
	pc.Pros, pc.Cons = nonNil(pc.Pros), nonNil(pc.Cons)
	if c.ProsCons, err = json.Marshal(pc); err != nil {
		return c, fmt.Errorf("encode pros/cons: %w", err)
	}
	if c.Result, err = json.Marshal(resp.Result); err != nil {
		return c, fmt.Errorf("encode result: %w", err)
	}
	c.AgentRuns = agentRuns(resp, started.UTC(), finished.UTC())
	analyzerCost := resp.CostInfo.Costs.TotalEstimatedUSD > 0
	total, err := priceRuns(ctx, prices, c.AgentRuns, analyzerCost)
	if err != nil {
		return c, err
	}
	ci := resp.CostInfo
	if total != nil {
		ci.Costs.TotalEstimatedUSD, _ = total.Float64()
		ci.Costs.PricingNote = PricedNote
	}
	if c.CostInfo, err = json.Marshal(ci); err != nil {
		return c, fmt.Errorf("encode cost info: %w", err)
	}
	// The aggregate refuses such a result too; finding it here makes it a bad result
	// the attempt fails with, not an error that leaves the job unfinished.
	return c, c.CheckText()
}

// PricedNote replaces cost_info.costs.pricing_note when scanledger priced the runs.
const PricedNote = "Computed by scanledger from the models-info price in effect at the time of each run"

// agentRuns lists one run per agent execution, or per agent in agents_detailed when
// the service sent no executions. Cost is the run's share of the total estimate by
// tokens, as the original computed it, kept as an exact decimal string.
func agentRuns(resp *analysis.Response, started, finished time.Time) []scan.AgentRun {
	ci := resp.CostInfo
	model := ""
	if len(ci.Models) == 1 {
		for m := range ci.Models {
			model = m
		}
	}
	type exec struct {
		AgentName string `json:"agent_name"`
		Timestamp string `json:"timestamp"`
	}
	var names []string
	startOf := map[string]time.Time{}
	for _, raw := range resp.AgentExecutions {
		var e exec
		if json.Unmarshal(raw, &e) == nil && e.AgentName != "" {
			names = append(names, e.AgentName)
			if t, err := time.Parse("2006-01-02T15:04:05.999999", e.Timestamp); err == nil {
				startOf[e.AgentName] = t.UTC()
			}
		}
	}
	if len(names) == 0 {
		for n := range ci.AgentsDetailed {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	runs := make([]scan.AgentRun, 0, len(names))
	for _, n := range names {
		u := ci.AgentsDetailed[n]
		st := started
		if t, ok := startOf[n]; ok {
			st = t
		}
		runs = append(runs, scan.AgentRun{
			ID:         domain.NewID(),
			AgentName:  n,
			Model:      model,
			TokensIn:   u.PromptTokens,
			TokensOut:  u.CompletionTokens,
			CostUSD:    share(ci.Costs.TotalEstimatedUSD, u.TotalTokens, ci.Tokens.TotalTokens), // "0" until priced
			StartedAt:  st,
			FinishedAt: finished,
		})
	}
	return runs
}

// share returns total × part / whole as a decimal string with up to 12 places.
func share(total float64, part, whole int) string {
	if whole <= 0 || part <= 0 || total <= 0 {
		return "0"
	}
	r := new(big.Rat).SetFloat64(total)
	if r == nil {
		return "0"
	}
	return decimal(r.Mul(r, big.NewRat(int64(part), int64(whole))))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
