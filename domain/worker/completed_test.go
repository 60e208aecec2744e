package worker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/worker"
)

func TestCompletedDerivesAgentRunsFromAgentsDetailedWhenNoExecutions(t *testing.T) {
	resp := &analysis.Response{
		Result: analysis.Result{HouseTypes: []string{"apartment"}, Rooms: []analysis.RoomResult{{RoomID: "r1", RoomTypes: nil}}},
		CostInfo: analysis.CostInfo{
			Tokens: analysis.Tokens{TotalTokens: 1000},
			Models: map[string]int{"gpt-4o-mini": 1000},
			AgentsDetailed: map[string]analysis.AgentUsage{
				"house type":         {PromptTokens: 200, CompletionTokens: 50, TotalTokens: 250},
				"pros/cons analysis": {PromptTokens: 600, CompletionTokens: 150, TotalTokens: 750},
			},
			Costs: analysis.Costs{TotalEstimatedUSD: 0.0012},
		},
		AgentExecutions: []json.RawMessage{},
		Metadata:        analysis.Metadata{PipelineVersion: "2.0.0"},
	}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c, err := worker.Completed(context.Background(), resp, 3, start, start.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Attempt != 3 || c.PipelineVersion != "2.0.0" || len(c.HouseTypes) != 1 {
		t.Fatalf("header: %+v", c)
	}
	if len(c.Rooms) != 1 || c.Rooms[0].RoomTypes == nil {
		t.Fatalf("room types must be an array, never null: %+v", c.Rooms)
	}
	if len(c.AgentRuns) != 2 {
		t.Fatalf("agent runs: %+v", c.AgentRuns)
	}
	byName := map[string]string{}
	for _, r := range c.AgentRuns {
		byName[r.AgentName] = r.CostUSD
		if r.Model != "gpt-4o-mini" || r.ID == "" || !r.StartedAt.Equal(start) {
			t.Fatalf("run: %+v", r)
		}
	}
	if byName["house type"] != "0.0003" || byName["pros/cons analysis"] != "0.0009" {
		t.Fatalf("cost shares: %v", byName)
	}
	var pc map[string][]string
	if err := json.Unmarshal(c.ProsCons, &pc); err != nil || pc["pros"] == nil || pc["cons"] == nil {
		t.Fatalf("pros/cons must be arrays: %s", c.ProsCons)
	}
}

func TestCompletedUsesAgentExecutionsWhenPresent(t *testing.T) {
	resp := &analysis.Response{
		CostInfo: analysis.CostInfo{Tokens: analysis.Tokens{TotalTokens: 100},
			AgentsDetailed: map[string]analysis.AgentUsage{"house type": {PromptTokens: 60, CompletionTokens: 40, TotalTokens: 100}, "unused": {}},
			Costs:          analysis.Costs{TotalEstimatedUSD: 0.5}},
		AgentExecutions: []json.RawMessage{json.RawMessage(`{"agent_name":"house type","timestamp":"2026-11-22T09:59:00.123456"}`)},
	}
	c, err := worker.Completed(context.Background(), resp, 1, time.Now(), time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AgentRuns) != 1 || c.AgentRuns[0].TokensIn != 60 || c.AgentRuns[0].CostUSD != "0.5" ||
		c.AgentRuns[0].StartedAt.Format(time.RFC3339) != "2026-11-22T09:59:00Z" {
		t.Fatalf("runs: %+v", c.AgentRuns)
	}
}

func TestCompletedDefaultsThePipelineVersionOnlyWhenTheAnalyzerSentNone(t *testing.T) {
	for sent, want := range map[string]string{"": "2.0.0", "3.1.4": "3.1.4"} {
		resp := &analysis.Response{Metadata: analysis.Metadata{PipelineVersion: sent}}
		c, err := worker.Completed(context.Background(), resp, 1, time.Now(), time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.PipelineVersion != want {
			t.Errorf("analyzer sent pipeline version %q: recorded %q, want %q", sent, c.PipelineVersion, want)
		}
	}
}
