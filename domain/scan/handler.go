package scan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// Meta is who and what caused a command; it goes into every event's metadata.
type Meta struct {
	UserID        string // the acting user; empty for the system (worker)
	CorrelationID string // the request or job the command belongs to
	CausationID   string // the command or event that caused it
}

// Handler runs commands against scans: load the stream, decide with the aggregate,
// append the new events at the loaded version. On a version conflict it reloads and
// decides again, a bounded number of times.
type Handler struct {
	Store event.Store
	// Now and NewID are the clock and id source; tests replace them.
	Now   func() time.Time
	NewID func() string
	// Attempts bounds how many times a command is decided on conflicts (default 5).
	Attempts int
}

// NewHandler returns a Handler with the real clock and random ids.
func NewHandler(store event.Store) *Handler {
	return &Handler{Store: store, Now: time.Now, NewID: domain.NewEventID, Attempts: 5}
}

// Result is what a command produced.
type Result struct {
	Scan     *Scan        // state after the command
	Events   []event.Data // events appended (empty when the command was a no-op)
	Position event.Cursor // all-stream position of the last appended event
}

// Execute runs decide on the current state of scan id and appends what it raised.
//
// Event IDs are minted once, before the first try, and reused on every retry: if an
// earlier try did commit (and only its answer was lost), the reload finds our own
// events in the stream and Execute reports success instead of deciding twice.
func (h *Handler) Execute(ctx context.Context, id string, meta Meta, decide func(*Scan) error) (Result, error) {
	attempts := h.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	var ids []string
	idAt := func(i int) string {
		for len(ids) <= i {
			ids = append(ids, h.NewID())
		}
		return ids[i]
	}
	stream := StreamName(id)
	var lastErr error
	for try := 0; try < attempts; try++ {
		s, recs, err := h.load(ctx, id)
		if err != nil {
			return Result{}, err
		}
		if len(ids) > 0 {
			if pos, ok := containsEvent(recs, ids[0]); ok {
				return Result{Scan: s, Position: pos}, nil
			}
		}
		if err := decide(s); err != nil {
			return Result{Scan: s}, err
		}
		changes := s.Changes()
		if len(changes) == 0 {
			return Result{Scan: s}, nil
		}
		prev := stream
		if len(recs) > 0 {
			m, err := event.ParseMetadata(recs[len(recs)-1].Metadata)
			if err != nil {
				return Result{}, fmt.Errorf("scan %s: %w", id, err)
			}
			prev = m.Chain
		}
		now := h.Now().UTC()
		expected := s.Version - int64(len(changes))
		data := make([]event.Data, len(changes))
		for i, e := range changes {
			d, chain, err := h.envelope(e, stream, expected+1+int64(i), idAt(i), prev, now, meta)
			if err != nil {
				return Result{}, err
			}
			data[i], prev = d, chain
		}
		if expected < 0 {
			expected = event.NoStream
		}
		res, err := h.Store.Append(ctx, stream, expected, data)
		if err == nil {
			s.changes = nil
			return Result{Scan: s, Events: data, Position: res.Position}, nil
		}
		// A domain error other than a conflict is final. Anything else (a conflict, a
		// lost connection) may mean another writer won or our own append committed and
		// only its answer was lost: reload and look for our event ids before deciding
		// again.
		var de *domain.Error
		if errors.As(err, &de) && !errors.Is(err, event.ErrWrongExpectedVersion) {
			return Result{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		lastErr = err
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
	}
	return Result{}, fmt.Errorf("scan %s: gave up after %d tries: %w", id, attempts, lastErr)
}

// envelope encodes e, to be appended at version of stream, with its metadata and
// returns it with its chain link.
func (h *Handler) envelope(e Event, stream string, version int64, id, prev string, now time.Time, meta Meta) (event.Data, string, error) {
	body, err := Encode(e)
	if err != nil {
		return event.Data{}, "", err
	}
	typ := e.EventType()
	return event.Chained(stream, version, prev, id, typ, SchemaVersion(typ), body, event.Metadata{
		OccurredAt:    now,
		UserID:        meta.UserID,
		CorrelationID: meta.CorrelationID,
		CausationID:   meta.CausationID,
	})
}

// Load returns the current state of scan id (StatusNone when it does not exist).
func (h *Handler) Load(ctx context.Context, id string) (*Scan, error) {
	s, _, err := h.load(ctx, id)
	return s, err
}

// LoadAt returns the state of scan id as it was after the event at version (time
// travel for auditors). A version beyond the stream's end gives the current state.
func (h *Handler) LoadAt(ctx context.Context, id string, version int64) (*Scan, error) {
	recs, err := h.History(ctx, id)
	if err != nil {
		return nil, err
	}
	s := New(id)
	for _, r := range recs {
		if r.Version > version {
			break
		}
		e, err := Decode(r)
		if err != nil {
			return nil, err
		}
		s.Apply(e)
	}
	return s, nil
}

// History reads a scan's whole stream in order.
func (h *Handler) History(ctx context.Context, id string) ([]event.Recorded, error) {
	const page = 512
	stream := StreamName(id)
	var all []event.Recorded
	for {
		recs, err := h.Store.ReadStream(ctx, stream, int64(len(all)), page)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		all = append(all, recs...)
		if len(recs) < page {
			return all, nil
		}
	}
}

func (h *Handler) load(ctx context.Context, id string) (*Scan, []event.Recorded, error) {
	recs, err := h.History(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	s := New(id)
	for _, r := range recs {
		e, err := Decode(r)
		if err != nil {
			return nil, nil, err
		}
		s.Apply(e)
	}
	return s, recs, nil
}

func containsEvent(recs []event.Recorded, id string) (event.Cursor, bool) {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].ID == id {
			return recs[len(recs)-1].Position, true
		}
	}
	return "", false
}
