// Package feed is the live-update history per user (user_feed): every message the PWA
// gets over Socket.IO, SSE or WebSocket, with the wire event names and payloads of the
// original backend (contracts section 2.4), numbered per user so a reconnecting client
// can ask for what it missed. Projector writes it; the relay reads it with Tail and
// ReadUser.
package feed

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
)

// Name is the projection's checkpoint key.
const Name = "feed"

// Wire event names.
const (
	EventUploaded   = "scan:uploaded"
	EventProcessing = "scan:processing"
	EventProgress   = "scan:progress"
	EventCompleted  = "scan:completed"
	EventFailed     = "scan:failed"
	// EventDeleted is scanledger's own: the PWA ignores events it does not listen
	// for, and other tabs of the same user can drop the scan from their history.
	EventDeleted = "scan:deleted"
)

// Projector projects scan events into user_feed. Created and a Failed that will be
// retried produce no message; every other event produces one. It buffers a
// transaction's messages and writes them with a few statements in Flush.
type Projector struct {
	seg *segment
}

// NewProjector returns a feed projector.
func NewProjector() *Projector { return &Projector{seg: newSegment()} }

// Name is Name.
func (p *Projector) Name() string { return Name }

// Begin drops whatever a rolled-back transaction buffered.
func (p *Projector) Begin() { p.seg = newSegment() }

type entry struct {
	scanID  string
	event   string
	payload []byte
	at      time.Time
}

type segment struct {
	owners  map[string]string // scan -> user, from Created in this segment
	added   [][]any           // new user_feed_scans rows
	dropped []string          // scans whose mapping goes (Deleted)
	entries []entry
}

func newSegment() *segment { return &segment{owners: map[string]string{}} }

// Handle turns one event into at most one buffered message.
func (p *Projector) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	se, ok, err := projections.DecodeScanEvent(e)
	if !ok || err != nil {
		return err
	}
	scanID, ev := se.ScanID, se.Event
	g := p.seg
	name, payload, err := message(scanID, ev)
	if err != nil {
		return err
	}
	switch v := ev.(type) {
	case scan.Created:
		if !domain.ValidID(v.UserID) {
			return fmt.Errorf("created: user id %q is not a UUID", v.UserID)
		}
		g.owners[scanID] = v.UserID
		g.added = append(g.added, []any{scanID, v.UserID})
	case scan.Deleted:
		g.dropped = append(g.dropped, scanID)
	}
	if name != "" {
		g.entries = append(g.entries, entry{scanID: scanID, event: name, payload: payload, at: se.At})
	}
	return nil
}

// Payloads, field for field as the original backend emitted them.
type (
	uploadedPayload struct {
		ScanID      string `json:"scanId"`
		RoomsCount  int    `json:"roomsCount"`
		ImagesCount int    `json:"imagesCount"`
		Message     string `json:"message"`
	}
	processingPayload struct {
		ScanID  string `json:"scanId"`
		Message string `json:"message"`
	}
	progressPayload struct {
		ScanID     string `json:"scanId"`
		Progress   int    `json:"progress"`
		Stage      string `json:"stage"`
		ETASeconds *int   `json:"etaSeconds,omitempty"`
	}
	completedPayload struct {
		ScanID  string          `json:"scanId"`
		Message string          `json:"message"`
		Result  completedResult `json:"result"`
	}
	// completedResult has the agents-service response's shape (contracts 5.4); the
	// PWA only needs it to be truthy and then reloads the scan over HTTP.
	completedResult struct {
		Result          json.RawMessage   `json:"result"`
		ClientSummary   json.RawMessage   `json:"client_summary"`
		CostInfo        json.RawMessage   `json:"cost_info"`
		AgentExecutions []json.RawMessage `json:"agent_executions"`
		Metadata        completedMetadata `json:"metadata"`
	}
	completedMetadata struct {
		PipelineVersion string `json:"pipeline_version"`
	}
	failedPayload struct {
		ScanID string `json:"scanId"`
		Error  string `json:"error"`
	}
	deletedPayload struct {
		ScanID string `json:"scanId"`
	}
)

// message returns the wire event and payload for ev, or "" when users are not told.
func message(scanID string, ev scan.Event) (string, []byte, error) {
	var name string
	var payload any
	switch v := ev.(type) {
	case scan.ImagesUploaded:
		name, payload = EventUploaded, uploadedPayload{scanID, len(v.Rooms), scan.CountImages(v.Rooms), "Images uploaded successfully"}
	case scan.ProcessingStarted:
		name, payload = EventProcessing, processingPayload{scanID, "Scan processing started"}
	case scan.ProgressReported:
		name, payload = EventProgress, progressPayload{scanID, v.Progress, v.Stage, v.ETASeconds}
	case scan.Completed:
		name, payload = EventCompleted, completedPayload{scanID, "Scan completed successfully", completedResult{
			Result:          rawOrNull(v.Result),
			ClientSummary:   rawOrNull(v.ClientSummary),
			CostInfo:        rawOrNull(v.CostInfo),
			AgentExecutions: []json.RawMessage{},
			Metadata:        completedMetadata{v.PipelineVersion},
		}}
	case scan.Failed:
		if v.WillRetry {
			return "", nil, nil // not final: the next attempt already started
		}
		msg := v.Reason
		if msg == "" {
			msg = v.Code
		}
		name, payload = EventFailed, failedPayload{scanID, msg}
	case scan.Deleted:
		name, payload = EventDeleted, deletedPayload{scanID}
	default:
		return "", nil, nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return name, b, nil
}

func rawOrNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// Flush resolves each message's user, numbers the messages per user and writes them.
func (p *Projector) Flush(ctx context.Context, tx *projections.Tx) error {
	g := p.seg
	d := tx.Dialect()

	owner := map[string]string{}
	var unknown []string
	for _, e := range g.entries {
		if u, ok := g.owners[e.scanID]; ok {
			owner[e.scanID] = u
		} else if _, ok := owner[e.scanID]; !ok {
			owner[e.scanID] = ""
			unknown = append(unknown, e.scanID)
		}
	}
	if len(unknown) > 0 {
		err := readPairs(ctx, tx, `SELECT scan_id, user_id FROM user_feed_scans WHERE `+d.AnyOf("scan_id", "$1"), unknown, owner)
		if err != nil {
			return fmt.Errorf("find scan owners: %w", err)
		}
		for _, s := range unknown {
			if owner[s] == "" {
				return fmt.Errorf("scan %s has no owner in the feed", s)
			}
		}
	}

	if err := tx.ExecValues(ctx, `INSERT INTO user_feed_scans (scan_id, user_id)`, `ON CONFLICT (scan_id) DO NOTHING`, g.added); err != nil {
		return fmt.Errorf("record scan owners: %w", err)
	}
	if len(g.dropped) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM user_feed_scans WHERE `+d.AnyOf("scan_id", "$1"), d.Strings(g.dropped)); err != nil {
			return fmt.Errorf("drop scan owners: %w", err)
		}
	}
	if len(g.entries) == 0 {
		return nil
	}

	seq := map[string]int64{}
	var users []string
	for _, e := range g.entries {
		u := owner[e.scanID]
		if _, ok := seq[u]; !ok {
			seq[u] = 0
			users = append(users, u)
		}
	}
	err := readPairs(ctx, tx, `SELECT user_id, last_seq FROM user_feed_cursors WHERE `+d.AnyOf("user_id", "$1"), users, seq)
	if err != nil {
		return fmt.Errorf("read feed cursors: %w", err)
	}
	rows := make([][]any, 0, len(g.entries))
	for _, e := range g.entries {
		u := owner[e.scanID]
		seq[u]++
		rows = append(rows, []any{u, seq[u], e.scanID, e.event, d.JSON(e.payload), d.Time(e.at)})
	}
	if err := tx.ExecValues(ctx, `INSERT INTO user_feed (user_id, seq, scan_id, event, payload, created_at)`, "", rows); err != nil {
		return fmt.Errorf("append feed: %w", err)
	}
	cursors := make([][]any, 0, len(users))
	for _, u := range users {
		cursors = append(cursors, []any{u, seq[u]})
	}
	if err := tx.ExecValues(ctx, `INSERT INTO user_feed_cursors (user_id, last_seq)`,
		`ON CONFLICT (user_id) DO UPDATE SET last_seq = excluded.last_seq`, cursors); err != nil {
		return fmt.Errorf("write feed cursors: %w", err)
	}
	return nil
}

// readPairs reads the (key, value) rows that q selects for keys, passed as $1, into m.
func readPairs[V any](ctx context.Context, tx *projections.Tx, q string, keys []string, m map[string]V) error {
	return projections.EachRow(ctx, tx.Query, q, []any{tx.Dialect().Strings(keys)}, func(rows *sql.Rows) error {
		var k string
		var v V
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		m[k] = v
		return nil
	})
}
