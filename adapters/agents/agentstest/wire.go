package agentstest

// The response body of section 5.4, written down here on its own rather than borrowed
// from domain/analysis, so the fake pins the contract instead of echoing the client's
// idea of it. Pointer and any fields keep Python's nulls where model_dump() has them.

type wireResponse struct {
	Result          wireResult        `json:"result"`
	ClientSummary   wireClientSummary `json:"client_summary"`
	CostInfo        wireCostInfo      `json:"cost_info"`
	AgentExecutions []any             `json:"agent_executions"`
	Metadata        wireMetadata      `json:"metadata"`
}

type wireResult struct {
	HouseTypes     []string       `json:"house_types"`
	HouseChecklist wireEvaluation `json:"house_checklist"`
	Rooms          []wireRoom     `json:"rooms"`
	Summary        wireSummary    `json:"summary"`
	ProsCons       wireProsCons   `json:"pros_cons"`
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

type wireSummary struct {
	House    []string `json:"house"`
	Rooms    []string `json:"rooms"`
	Products []string `json:"products"`
	Custom   []string `json:"custom"`
}

type wireProsCons struct {
	Pros []string `json:"pros"`
	Cons []string `json:"cons"`
}

type wireClientSummary struct {
	House             wireGroup                          `json:"house"`
	Rooms             map[string]wireGroup               `json:"rooms"`
	Products          map[string]wireGroup               `json:"products"`
	ProsCons          wireProsCons                       `json:"pros_cons"`
	ChecklistMetadata map[string]map[string]wireItemMeta `json:"checklist_metadata"`
}

type wireGroup struct {
	BooleansTrue []string          `json:"booleans_true"`
	Categoricals map[string]string `json:"categoricals"`
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
	Costs          wireCosts             `json:"costs"`
	Session        wireSession           `json:"session"`
}

type wireCosts struct {
	TotalEstimatedUSD float64                  `json:"total_estimated_usd"`
	ByModel           map[string]wireModelCost `json:"by_model"`
	PricingNote       string                   `json:"pricing_note"`
}

type wireModelCost struct {
	Tokens           int     `json:"tokens"`
	EstimatedCostUSD float64 `json:"estimated_cost_usd"`
}

type wireSession struct {
	DurationSeconds float64 `json:"duration_seconds"`
	StartTime       string  `json:"start_time"`
	TokensPerSecond float64 `json:"tokens_per_second"`
}

type wireMetadata struct {
	RequestID            string  `json:"request_id"`
	ExecutionTimeSeconds float64 `json:"execution_time_seconds"`
	Timestamp            string  `json:"timestamp"`
	TotalImages          int     `json:"total_images"`
	RoomsProcessed       int     `json:"rooms_processed"`
	PipelineVersion      string  `json:"pipeline_version"`
	TotalAgentExecutions int     `json:"total_agent_executions"`
}
