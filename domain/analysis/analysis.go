// Package analysis is the contract between the worker and whatever analyses a scan's
// photos: the agents-service over HTTP (adapters/agents) or the built-in image checks
// (adapters/builtin). The Response mirrors the agents-service's response body
// (contracts/housescanner.md section 5.4) field for field, so both analyzers fill the
// same shape and the rest of scanledger never knows which one ran.
package analysis

import (
	"context"
	"encoding/json"
	"time"
)

// Request is one analysis of one scan attempt.
type Request struct {
	ScanID  string
	Attempt int
	Rooms   []Room
	// Merged checklists, exactly as recorded in ProcessingStarted and sent to the
	// agents-service (items already reduced to the keys it accepts).
	HouseChecklist    json.RawMessage
	RoomsChecklist    json.RawMessage
	ProductsChecklist json.RawMessage
}

// Room is a room and its photos, in upload order.
type Room struct {
	ID     string
	Images []Image
}

// Image is one stored photo. URL is a time-limited signed GET URL the agents-service can
// fetch; BlobKey lets an in-process analyzer open the bytes without a network hop.
type Image struct {
	ID          string
	BlobKey     string
	ContentType string
	URL         string
}

// Progress is a milestone an analyzer reports while it works.
type Progress struct {
	Percent int           // 0-100, never decreasing within one Analyze call
	Stage   string        // short text shown to the user
	ETA     time.Duration // estimated time remaining; 0 when unknown
}

// Analyzer analyses a scan's photos against its checklists.
//
// Analyze returns the analysis or an error. report is called at real milestones and
// must not block for long. An error that a later attempt could cure (network trouble,
// 429, 5xx, a deadline) is marked retryable with Retryable; any other error (the
// service rejected the request, 4xx, 422, undecodable photos) fails for good.
type Analyzer interface {
	Analyze(ctx context.Context, req Request, report func(Progress)) (*Response, error)
}

// Error is an analysis failure with a machine code and the analyzer's own detail.
type Error struct {
	Code      string // e.g. "agents_http_422", "agents_unreachable", "no_usable_images"
	Detail    string // what the analyzer said; stored in the Failed event
	Retryable bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

// Response is the agents-service's /v1/scan/run response body (section 5.4).
type Response struct {
	Result          Result            `json:"result"`
	ClientSummary   ClientSummary     `json:"client_summary"`
	CostInfo        CostInfo          `json:"cost_info"`
	AgentExecutions []json.RawMessage `json:"agent_executions"`
	Metadata        Metadata          `json:"metadata"`
}

// Result is the agents' HouseResult.
type Result struct {
	HouseTypes     []string     `json:"house_types"`
	HouseChecklist Evaluation   `json:"house_checklist"`
	Rooms          []RoomResult `json:"rooms"`
	Summary        Summary      `json:"summary"`
	ProsCons       ProsCons     `json:"pros_cons"`
	// NotAssessed lists checklist item ids (prefixed "house:", "room:<id>:",
	// "product:<id>:") that the analyzer could not judge. The agents-service never sends
	// it; the built-in analyzer does, instead of inventing answers.
	NotAssessed []string `json:"not_assessed,omitempty"`
}

// Evaluation is a ChecklistEvaluationOutput.
type Evaluation struct {
	Booleans     map[string]bool        `json:"booleans"`
	Categoricals map[string]string      `json:"categoricals"`
	Conditionals map[string]Conditional `json:"conditionals"`
}

// Conditional is the answer to a conditional item.
type Conditional struct {
	Exists    bool              `json:"exists"`
	Condition string            `json:"condition,omitempty"`
	Subitems  map[string]string `json:"subitems"` // null when none
}

// RoomResult is one analysed room.
type RoomResult struct {
	RoomID    string     `json:"room_id"`
	RoomTypes []string   `json:"room_types"`
	Issues    Evaluation `json:"issues"`
	Products  Evaluation `json:"products"`
}

// Summary lists the answers as "scope:item:value" lines.
type Summary struct {
	House    []string `json:"house"`
	Rooms    []string `json:"rooms"`
	Products []string `json:"products"`
	Custom   []string `json:"custom"`
}

// ProsCons is the pros/cons analysis.
type ProsCons struct {
	Pros []string `json:"pros"`
	Cons []string `json:"cons"`
}

// ClientSummary is what the PWA's summary page reads (summaryJson).
type ClientSummary struct {
	House             SummaryGroup            `json:"house"`
	Rooms             map[string]SummaryGroup `json:"rooms"`
	Products          map[string]SummaryGroup `json:"products"`
	ProsCons          ProsCons                `json:"pros_cons"`
	ChecklistMetadata ChecklistMetadata       `json:"checklist_metadata"`
}

// SummaryGroup holds the true booleans and all categoricals of one scope.
type SummaryGroup struct {
	BooleansTrue []string          `json:"booleans_true"`
	Categoricals map[string]string `json:"categoricals"`
}

// ChecklistMetadata describes every item the request's checklists named.
type ChecklistMetadata struct {
	House    map[string]ItemMetadata `json:"house"`
	Rooms    map[string]ItemMetadata `json:"rooms"`
	Products map[string]ItemMetadata `json:"products"`
}

// ItemMetadata is one checklist item's description.
type ItemMetadata struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Type        string   `json:"type"`
	Options     []string `json:"options"`
}

// CostInfo is the agents' usage summary (costSummary on the PWA side).
type CostInfo struct {
	Tokens         Tokens                `json:"tokens"`
	Requests       Requests              `json:"requests"`
	Models         map[string]int        `json:"models"`
	Agents         map[string]int        `json:"agents"`
	AgentsDetailed map[string]AgentUsage `json:"agents_detailed"`
	Costs          Costs                 `json:"costs"`
	Session        Session               `json:"session"`
}

// Tokens counts tokens.
type Tokens struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Requests counts LLM requests.
type Requests struct {
	TotalRequests       int     `json:"total_requests"`
	AvgTokensPerRequest float64 `json:"avg_tokens_per_request"`
}

// AgentUsage is one agent's usage.
type AgentUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	Requests         int `json:"requests"`
}

// Costs are estimated costs.
type Costs struct {
	TotalEstimatedUSD float64              `json:"total_estimated_usd"`
	ByModel           map[string]ModelCost `json:"by_model"`
	PricingNote       string               `json:"pricing_note"`
}

// ModelCost is one model's cost.
type ModelCost struct {
	Tokens           int     `json:"tokens"`
	EstimatedCostUSD float64 `json:"estimated_cost_usd"`
}

// Session is the analysis session's timing.
type Session struct {
	DurationSeconds float64 `json:"duration_seconds"`
	StartTime       string  `json:"start_time"`
	TokensPerSecond float64 `json:"tokens_per_second"`
}

// Metadata describes the run.
type Metadata struct {
	RequestID            string  `json:"request_id"`
	ExecutionTimeSeconds float64 `json:"execution_time_seconds"`
	Timestamp            string  `json:"timestamp"`
	TotalImages          int     `json:"total_images"`
	RoomsProcessed       int     `json:"rooms_processed"`
	PipelineVersion      string  `json:"pipeline_version"`
	TotalAgentExecutions int     `json:"total_agent_executions"`
}
