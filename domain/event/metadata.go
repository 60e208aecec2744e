package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Metadata is the envelope every scanledger event carries beside its data, stored as
// the event's metadata JSON.
type Metadata struct {
	EventID       string    `json:"eventId"`
	OccurredAt    time.Time `json:"occurredAt"`
	UserID        string    `json:"userId,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	CausationID   string    `json:"causationId,omitempty"`
	SchemaVersion int       `json:"schemaVersion"`
	// Chain links the event to its stream's history: see Chain.
	Chain string `json:"chain"`
}

// ParseMetadata decodes an event's metadata JSON.
func ParseMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return Metadata{}, fmt.Errorf("parse metadata: %w", err)
	}
	return m, nil
}

// Chain computes an event's link in its stream's hash chain:
//
//	hex(sha256(prev "\n" eventID "\n" type "\n" schemaVersion "\n" data))
//
// where prev is the previous event's chain value, or the stream name for the first
// event. The chain covers the stored bytes of data exactly, so recomputing it over a
// stream proves that no event was altered, removed, reordered or inserted.
func Chain(prev, eventID, typ string, schemaVersion int, data []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write([]byte(eventID))
	h.Write([]byte{'\n'})
	h.Write([]byte(typ))
	h.Write([]byte{'\n'})
	h.Write([]byte(strconv.Itoa(schemaVersion)))
	h.Write([]byte{'\n'})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// VerifyError says where a stream's chain breaks.
type VerifyError struct {
	Version int64
	EventID string
	Reason  string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("chain broken at version %d (event %s): %s", e.Version, e.EventID, e.Reason)
}

// Verify recomputes the hash chain over a whole stream, read from version 0 in order,
// and returns a *VerifyError at the first event that does not match.
func Verify(stream string, events []Recorded) error {
	prev := stream
	for i, e := range events {
		if e.Version != int64(i) {
			return &VerifyError{Version: e.Version, EventID: e.ID, Reason: fmt.Sprintf("expected version %d", i)}
		}
		m, err := ParseMetadata(e.Metadata)
		if err != nil {
			return &VerifyError{Version: e.Version, EventID: e.ID, Reason: err.Error()}
		}
		if m.EventID != e.ID {
			return &VerifyError{Version: e.Version, EventID: e.ID, Reason: "metadata eventId differs from the stored event id"}
		}
		want := Chain(prev, e.ID, e.Type, e.SchemaVersion, e.Data)
		if m.Chain != want {
			return &VerifyError{Version: e.Version, EventID: e.ID, Reason: "chain value does not match the stored data"}
		}
		prev = m.Chain
	}
	return nil
}
