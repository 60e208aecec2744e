package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/trail"
)

// TrailStream is the stream the access trail is kept in: events like every other, so
// chained and sealed like every other.
const TrailStream = "audit-trail"

// TypeAccessRecorded is the event type of a trail entry.
const TypeAccessRecorded = "AccessRecorded"

// trailEntry is a trail.Entry as stored.
type trailEntry struct {
	ActorID   string `json:"actorId,omitempty"`
	ActorRole string `json:"actorRole"`
	Action    string `json:"action"`
	Subject   string `json:"subject"`
	OwnerID   string `json:"ownerId,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// Trail is the store-backed trail.Recorder, and reads the trail back.
type Trail struct {
	store event.Store
	now   func() time.Time
	newID func() string

	mu   sync.Mutex
	tail tail
}

// NewTrail returns the trail kept in store.
func NewTrail(store event.Store) *Trail {
	return &Trail{store: store, now: time.Now, newID: domain.NewEventID, tail: newTail(TrailStream)}
}

var _ trail.Recorder = (*Trail)(nil)

// Record appends e to the trail. Appends from other processes are caught up with, so
// the stream's chain stays one line.
func (t *Trail) Record(ctx context.Context, e trail.Entry) error {
	if e.Action == "" || e.Subject == "" {
		return domain.Errorf(domain.EINVALID, "trail entry needs an action and a subject")
	}
	body, err := json.Marshal(trailEntry(e))
	if err != nil {
		return fmt.Errorf("encode trail entry: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.newID()
	_, err = t.tail.append(ctx, t.store, nil, func(version int64, prev string) (event.Data, error) {
		d, _, err := event.Chained(TrailStream, version, prev, id, TypeAccessRecorded, 1, body,
			event.Metadata{OccurredAt: t.now(), UserID: e.ActorID, CorrelationID: e.RequestID, CausationID: e.RequestID})
		return d, err
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", e.Action, err)
	}
	return nil
}

// Recorded is a trail entry with when it was recorded and its place in the trail.
type Recorded struct {
	trail.Entry
	Version int64
	At      time.Time
}

// Entries returns the trail's entries that keep accepts, oldest first. It reads the
// whole trail stream.
func (t *Trail) Entries(ctx context.Context, keep func(trail.Entry) bool) ([]Recorded, error) {
	recs, err := readStream(ctx, t.store, TrailStream, 1<<62)
	if err != nil {
		return nil, err
	}
	out := []Recorded{}
	for _, r := range recs {
		var e trailEntry
		if err := json.Unmarshal(r.Data, &e); err != nil {
			return nil, fmt.Errorf("trail version %d: %w", r.Version, err)
		}
		m, err := event.ParseMetadata(r.Metadata)
		if err != nil {
			return nil, fmt.Errorf("trail version %d: %w", r.Version, err)
		}
		if keep == nil || keep(trail.Entry(e)) {
			out = append(out, Recorded{Entry: trail.Entry(e), Version: r.Version, At: m.OccurredAt})
		}
	}
	return out, nil
}

// TrailHoldsPlaintext reports whether r, an entry of the trail, names a user by email:
// role grants did before users were named by id. Such entries keep the email forever.
func TrailHoldsPlaintext(r event.Recorded) bool {
	if r.Type != TypeAccessRecorded {
		return false
	}
	var e trailEntry
	if json.Unmarshal(r.Data, &e) != nil {
		return false
	}
	return strings.Contains(e.Subject, "@") || strings.Contains(e.Detail, "@")
}
