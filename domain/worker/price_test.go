package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/worker"
)

// registry is a price list: model -> prices by effective date.
type registry struct {
	prices map[string][]dated
	err    error
}

type dated struct {
	from  time.Time
	price worker.Price
}

func (r registry) PriceAt(_ context.Context, model string, at time.Time) (*worker.Price, error) {
	if r.err != nil {
		return nil, r.err
	}
	var best *dated
	for i, d := range r.prices[model] {
		if !d.from.After(at) && (best == nil || d.from.After(best.from)) {
			best = &r.prices[model][i]
		}
	}
	if best == nil {
		return nil, nil
	}
	p := best.price
	return &p, nil
}

func rat(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }

// tokensOnly is an analyzer answer that reports tokens but no cost.
func tokensOnly() *analysis.Response {
	return &analysis.Response{CostInfo: analysis.CostInfo{
		Tokens: analysis.Tokens{TotalTokens: 1500},
		Models: map[string]int{"gpt-4o-mini": 1500},
		AgentsDetailed: map[string]analysis.AgentUsage{
			"house type":         {PromptTokens: 200, CompletionTokens: 50, TotalTokens: 250},
			"pros/cons analysis": {PromptTokens: 1000, CompletionTokens: 250, TotalTokens: 1250},
		},
	}}
}

func TestRunsWithTokensButNoCostArePricedFromThePriceInEffectWhenTheyRan(t *testing.T) {
	old, current := domain.NewID(), domain.NewID()
	reg := registry{prices: map[string][]dated{"gpt-4o-mini": {
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), worker.Price{ID: old, Input: rat("0.15"), Output: rat("0.6")}},
		{time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), worker.Price{ID: current, Input: rat("1.5"), Output: rat("6")}},
	}}}
	for _, tc := range []struct {
		started     time.Time
		priceID     string
		house, pros string
		total       float64
	}{
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), old, "0.00006", "0.0003", 0.00036},
		{time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), current, "0.0006", "0.003", 0.0036},
	} {
		c, err := worker.Completed(context.Background(), tokensOnly(), 1, tc.started, tc.started.Add(time.Minute), reg)
		if err != nil {
			t.Fatal(err)
		}
		costs := map[string]string{}
		for _, r := range c.AgentRuns {
			costs[r.AgentName] = r.CostUSD
			if r.ModelID != tc.priceID {
				t.Fatalf("run %s linked to %q, want the price in effect %q", r.AgentName, r.ModelID, tc.priceID)
			}
		}
		if costs["house type"] != tc.house || costs["pros/cons analysis"] != tc.pros {
			t.Fatalf("started %s: costs %v", tc.started, costs)
		}
		var ci analysis.CostInfo
		if err := json.Unmarshal(c.CostInfo, &ci); err != nil {
			t.Fatal(err)
		}
		if d := ci.Costs.TotalEstimatedUSD - tc.total; d > 1e-12 || d < -1e-12 || ci.Costs.PricingNote != worker.PricedNote {
			t.Fatalf("cost_info.costs %+v: the summary must show the sum the runs were priced at", ci.Costs)
		}
	}
}

func TestAnAnalyzersOwnCostIsKeptAndOnlyLinkedToThePrice(t *testing.T) {
	id := domain.NewID()
	reg := registry{prices: map[string][]dated{"gpt-4o-mini": {
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), worker.Price{ID: id, Input: rat("100"), Output: rat("100")}}}}}
	resp := tokensOnly()
	resp.CostInfo.Costs.TotalEstimatedUSD = 0.0015
	c, err := worker.Completed(context.Background(), resp, 1, time.Now(), time.Now(), reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.AgentRuns {
		if r.ModelID != id || (r.AgentName == "house type" && r.CostUSD != "0.00025") {
			t.Fatalf("run %+v", r)
		}
	}
	var ci analysis.CostInfo
	_ = json.Unmarshal(c.CostInfo, &ci)
	if ci.Costs.TotalEstimatedUSD != 0.0015 {
		t.Fatalf("the analyzer's total was rewritten: %+v", ci.Costs)
	}
}

func TestWithoutARegisteredPriceARunCostsZeroAndIsNotLinked(t *testing.T) {
	c, err := worker.Completed(context.Background(), tokensOnly(), 1, time.Now(), time.Now(), registry{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.AgentRuns {
		if r.ModelID != "" || r.CostUSD != "0" {
			t.Fatalf("run %+v", r)
		}
	}
}

func TestAFailedPriceLookupIsAnErrorNotABadResult(t *testing.T) {
	boom := errors.New("registry down")
	_, err := worker.Completed(context.Background(), tokensOnly(), 1, time.Now(), time.Now(), registry{err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
}

func TestPricingRatesMustBeNonNegativeNumbers(t *testing.T) {
	for raw, valid := range map[string]bool{
		`{"inputPerMillion":0.15,"outputPerMillion":"0.6"}`: true,
		`{"note":"free-form keys are kept"}`:                true,
		`{"inputPerMillion":-1}`:                            false,
		`{"outputPerMillion":"cheap"}`:                      false,
		`[1,2]`:                                             false,
		`null`:                                              false,
	} {
		_, _, err := worker.ParsePricing(json.RawMessage(raw))
		if (err == nil) != valid || err != nil && domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("%s: err %v", raw, err)
		}
	}
}
