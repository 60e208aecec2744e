package agentstest

import "github.com/scanledger/scanledger/domain/analysis"

// The response body of section 5.4. The parts whose JSON is domain/analysis's to the
// letter are its types; the ones written down here differ from it on purpose, so the
// fake sends what the Python service sends rather than the client's idea of it: pointer
// and any fields keep Python's nulls where model_dump() has them, and the usage counts
// stay open maps.

type wireResponse struct {
	Result          wireResult        `json:"result"`
	ClientSummary   wireClientSummary `json:"client_summary"`
	CostInfo        wireCostInfo      `json:"cost_info"`
	AgentExecutions []any             `json:"agent_executions"`
	Metadata        analysis.Metadata `json:"metadata"`
}

type wireResult struct {
	HouseTypes     []string          `json:"house_types"`
	HouseChecklist wireEvaluation    `json:"house_checklist"`
	Rooms          []wireRoom        `json:"rooms"`
	Summary        analysis.Summary  `json:"summary"`
	ProsCons       analysis.ProsCons `json:"pros_cons"`
}

type wireEvaluation struct {
	Booleans     map[string]bool            `json:"booleans"`
	Categoricals map[string]string          `json:"categoricals"`
	Conditionals map[string]wireConditional `json:"conditionals"`
}

type wireConditional struct {
	Exists    bool              `json:"exists"`
	Condition *string           `json:"condition"`
	Subitems  map[string]string `json:"subitems"`
}

type wireRoom struct {
	RoomID    string         `json:"room_id"`
	RoomTypes []string       `json:"room_types"`
	Issues    wireEvaluation `json:"issues"`
	Products  wireEvaluation `json:"products"`
}

type wireClientSummary struct {
	House             analysis.SummaryGroup              `json:"house"`
	Rooms             map[string]analysis.SummaryGroup   `json:"rooms"`
	Products          map[string]analysis.SummaryGroup   `json:"products"`
	ProsCons          analysis.ProsCons                  `json:"pros_cons"`
	ChecklistMetadata map[string]map[string]wireItemMeta `json:"checklist_metadata"`
}

// wireItemMeta holds whatever the request's item had (item.get(key, default)).
type wireItemMeta struct {
	Title       any `json:"title"`
	Description any `json:"description"`
	Type        any `json:"type"`
	Options     any `json:"options"`
}

type wireCostInfo struct {
	Tokens         map[string]int        `json:"tokens"`
	Requests       map[string]float64    `json:"requests"`
	Models         map[string]int        `json:"models"`
	Agents         map[string]int        `json:"agents"`
	AgentsDetailed map[string]agentUsage `json:"agents_detailed"`
	Costs          analysis.Costs        `json:"costs"`
	Session        analysis.Session      `json:"session"`
}
