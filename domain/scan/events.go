// Package scan is the Scan aggregate: its events, the rules that decide which events a
// command may produce, and the command handler that loads, decides and appends.
package scan

import (
	"encoding/json"
	"time"

	"github.com/scanledger/scanledger/domain/personal"
)

// Stored event type names. These are written into the store verbatim: never derive
// them from Go type names, never rename or reuse one.
const (
	TypeCreated           = "Created"
	TypeImagesUploaded    = "ImagesUploaded"
	TypeProcessingStarted = "ProcessingStarted"
	TypeProgressReported  = "ProgressReported"
	TypeCompleted         = "Completed"
	TypeFailed            = "Failed"
	TypeDeleted           = "Deleted"
)

// StreamPrefix starts every scan stream's name: "scan-<scanId>".
const StreamPrefix = "scan-"

// StreamName returns the stream that holds a scan's history.
func StreamName(scanID string) string { return StreamPrefix + scanID }

// Event is implemented by every scan event payload.
type Event interface {
	// EventType is the stored type name.
	EventType() string
}

// Created: a user started a scan of a house (POST /scans).
type Created struct {
	ScanID  string `json:"scanId"`
	UserID  string `json:"userId"`
	HouseID string `json:"houseId"`
	// NewHouse is true when this scan created its house (no houseId was given).
	NewHouse bool `json:"newHouse"`
	// Address is personal data: stored sealed in Personal (schema version 2).
	Address string `json:"-"`
	// Personal is the stored, sealed form of the personal fields (see personal.go).
	Personal *personal.Sealed `json:"personal,omitempty"`
}

// ImagesUploaded: the photos are stored; they replace any earlier upload.
type ImagesUploaded struct {
	Rooms []Room `json:"rooms"`
	// Address, when set, replaces the house's address. Personal data: stored sealed in
	// Personal (schema version 2).
	Address  string           `json:"-"`
	Personal *personal.Sealed `json:"personal,omitempty"`
}

// Room is a group of photos of one room.
type Room struct {
	RoomID  string  `json:"roomId"`
	Ordinal int     `json:"ordinal"` // 0-based
	Label   string  `json:"label"`   // "Room <ordinal+1>"
	Images  []Image `json:"images"`
}

// Image is one stored photo.
type Image struct {
	ImageID     string `json:"imageId"`
	BlobKey     string `json:"blobKey"`
	ContentType string `json:"contentType"` // sniffed from the bytes
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256"` // hex
}

// ProcessingStarted: a processing attempt began (POST /scans/:id/process).
type ProcessingStarted struct {
	Attempt int `json:"attempt"` // 1 for the first attempt, +1 for each attempt after
	// Retry counts automatic retries since the user last asked to process: 0 when the
	// user started this attempt, 1.. when the worker retried after a retryable failure.
	Retry int `json:"retry"`
	// Checklists is exactly what the analyzer receives for this attempt.
	Checklists Checklists `json:"checklists"`
	// InputsSnapshot is the PWA's scans.inputsSnapshot. Its address is personal data:
	// stored as null, sealed in Personal (schema version 2).
	InputsSnapshot InputsSnapshot   `json:"inputsSnapshot"`
	Personal       *personal.Sealed `json:"personal,omitempty"`
}

// Checklists are the merged checklists of one attempt, in the agents-service's keys.
type Checklists struct {
	House    json.RawMessage `json:"house_checklist"`
	Rooms    json.RawMessage `json:"rooms_checklist"`
	Products json.RawMessage `json:"products_checklist"`
}

// InputsSnapshot is the summary of inputs the original backend stored at process time.
type InputsSnapshot struct {
	HouseType   *string `json:"house_type"`
	Address     *string `json:"address"`
	RoomsCount  int     `json:"rooms_count"`
	ImagesCount int     `json:"images_count"`
}

// ProgressReported: the worker reached a milestone.
type ProgressReported struct {
	Attempt    int    `json:"attempt"`
	Progress   int    `json:"progress"` // 0-100, never decreasing within an attempt
	Stage      string `json:"stage"`
	ETASeconds *int   `json:"etaSeconds,omitempty"`
}

// Completed: the analysis of the current attempt succeeded and its result is stored.
type Completed struct {
	Attempt         int             `json:"attempt"`
	HouseTypes      []string        `json:"houseTypes"`
	Rooms           []RoomTypes     `json:"rooms"`
	ClientSummary   json.RawMessage `json:"clientSummary"`
	ProsCons        json.RawMessage `json:"prosCons"`
	CostInfo        json.RawMessage `json:"costInfo"`
	AgentRuns       []AgentRun      `json:"agentRuns"`
	PipelineVersion string          `json:"pipelineVersion"`
	// Result is the analyzer's whole "result" object, kept for auditors and replayed
	// to live clients as scan:completed's result.
	Result json.RawMessage `json:"result"`
}

// RoomTypes are the room types detected for one room of the scan.
type RoomTypes struct {
	RoomID    string   `json:"roomId"`
	RoomTypes []string `json:"roomTypes"`
}

// AgentRun is one agent's usage in the analysis.
type AgentRun struct {
	ID        string `json:"id"`
	AgentName string `json:"agentName"`
	Model     string `json:"model,omitempty"`
	// ModelID is the models-info price the cost was computed with or checked against
	// (the original's agents_runs.model_id); empty when no price was registered.
	ModelID    string    `json:"modelId,omitempty"`
	TokensIn   int       `json:"tokensIn"`
	TokensOut  int       `json:"tokensOut"`
	CostUSD    string    `json:"costUsd"` // decimal string, as the PWA expects
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
}

// Failed: the current attempt failed.
type Failed struct {
	Attempt   int    `json:"attempt"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
	Retryable bool   `json:"retryable"`
	// WillRetry is true when the worker appended the next attempt's ProcessingStarted
	// in the same append, so the failure is not final and users are not told "failed".
	WillRetry bool `json:"willRetry"`
}

// Deleted: the user deleted the scan. Its photos are removed; its history is kept.
// Projections remove the scan's read rows, and its house when no other scan of it is
// left.
type Deleted struct{}

func (Created) EventType() string           { return TypeCreated }
func (ImagesUploaded) EventType() string    { return TypeImagesUploaded }
func (ProcessingStarted) EventType() string { return TypeProcessingStarted }
func (ProgressReported) EventType() string  { return TypeProgressReported }
func (Completed) EventType() string         { return TypeCompleted }
func (Failed) EventType() string            { return TypeFailed }
func (Deleted) EventType() string           { return TypeDeleted }
