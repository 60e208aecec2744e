package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/personal/personaltest"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/scans"
)

// testCipher holds every test user's personal key, as the read-model database does.
var testCipher = &personal.Cipher{Keys: personaltest.NewMemory()}

// newScansProjector is the scans projector with the tests' keys.
func newScansProjector() *scans.Projector {
	p := scans.NewProjector()
	p.Cipher = testCipher
	return p
}

// world writes scan histories into a memStore with a deterministic clock: every event
// occurs one second after the previous one.
type world struct {
	t     testing.TB
	store *memStore
	now   time.Time
}

func newWorld(t testing.TB) *world {
	return &world{t: t, store: newMemStore(), now: time.Date(2025, 10, 19, 12, 0, 0, 0, time.UTC)}
}

// forEachWorld runs f in parallel with the other tests, against each engine (forEachDB),
// with a new world to write the events it projects.
func forEachWorld(t *testing.T, f func(t *testing.T, d *testDB, w *world)) {
	t.Helper()
	t.Parallel()
	forEachDB(t, func(t *testing.T, d *testDB) { f(t, d, newWorld(t)) })
}

// catchUp applies the world's events to each projection in d (see catchUp).
func (w *world) catchUp(d *testDB, ps ...projections.Projection) []*projections.Runner {
	w.t.Helper()
	return catchUp(w.t, d, w.store, nil, ps...)
}

func (w *world) tick() time.Time {
	w.now = w.now.Add(time.Second)
	return w.now
}

// history is one scan's stream.
type history struct {
	w       *world
	ScanID  string
	UserID  string
	HouseID string
	version int64
	// at is when the last appended event occurred.
	at time.Time
}

// create starts a scan of a new house (houseID "") or of an existing one.
func (w *world) create(userID, houseID, address string) *history {
	h := &history{w: w, ScanID: domain.NewID(), UserID: userID, HouseID: houseID, version: event.NoStream}
	created := scan.Created{ScanID: h.ScanID, UserID: userID, HouseID: houseID, Address: address}
	if houseID == "" {
		h.HouseID = domain.NewID()
		created.HouseID, created.NewHouse = h.HouseID, true
	}
	h.append(created)
	return h
}

// running is a scan of a new house by userID, with one room of one image uploaded and
// attempt 1 processing: the most common start of a test.
func (w *world) running(userID string) *history {
	h := w.create(userID, "", "")
	h.upload("", 1)
	h.start(1)
	return h
}

// append writes events in one append, as the command handler does.
func (h *history) append(evs ...scan.Event) {
	h.w.t.Helper()
	data := make([]event.Data, 0, len(evs))
	for _, ev := range evs {
		ev, err := scan.Seal(context.Background(), testCipher, h.UserID, ev)
		if err != nil {
			h.w.t.Fatalf("seal: %v", err)
		}
		b, err := scan.Encode(ev)
		if err != nil {
			h.w.t.Fatalf("encode: %v", err)
		}
		data = append(data, h.w.data(ev.EventType(), b, h.UserID))
	}
	res, err := h.w.store.Append(context.Background(), scan.StreamName(h.ScanID), h.version, data)
	if err != nil {
		h.w.t.Fatalf("append: %v", err)
	}
	h.version = res.Version
	h.at = h.w.now
}

func (w *world) data(typ string, b []byte, userID string) event.Data {
	id := domain.NewID()
	md, err := json.Marshal(event.Metadata{EventID: id, OccurredAt: w.tick(), UserID: userID,
		CorrelationID: domain.NewID(), SchemaVersion: scan.SchemaVersion(typ)})
	if err != nil {
		w.t.Fatalf("metadata: %v", err)
	}
	return event.Data{ID: id, Type: typ, SchemaVersion: scan.SchemaVersion(typ), Data: b, Metadata: md}
}

// upload uploads rooms with the given image counts and returns the event.
func (h *history) upload(address string, imagesPerRoom ...int) scan.ImagesUploaded {
	up := scan.ImagesUploaded{Address: address}
	for i, n := range imagesPerRoom {
		r := scan.Room{RoomID: domain.NewID(), Ordinal: i, Label: fmt.Sprintf("Room %d", i+1)}
		for j := 0; j < n; j++ {
			id := domain.NewID()
			r.Images = append(r.Images, scan.Image{ImageID: id, BlobKey: "scans/" + h.ScanID + "/" + id + ".jpg",
				ContentType: "image/jpeg", Bytes: int64(1000 + j), SHA256: fmt.Sprintf("%064x", j+1)})
		}
		up.Rooms = append(up.Rooms, r)
	}
	h.append(up)
	return up
}

func (h *history) start(attempt int) scan.ProcessingStarted {
	house := "apartment"
	addr := "1 Main St"
	ps := scan.ProcessingStarted{Attempt: attempt,
		Checklists:     scan.Checklists{House: json.RawMessage(`{}`), Rooms: json.RawMessage(`{}`), Products: json.RawMessage(`{}`)},
		InputsSnapshot: scan.InputsSnapshot{HouseType: &house, Address: &addr, RoomsCount: 2, ImagesCount: 3}}
	h.append(ps)
	return ps
}

func (h *history) progress(attempt, pct int, stage string) {
	h.append(scan.ProgressReported{Attempt: attempt, Progress: pct, Stage: stage})
}

// complete finishes attempt with a result naming the uploaded rooms (and any extra
// room ids) and two agent runs.
func (h *history) complete(attempt int, up scan.ImagesUploaded, extraRoomIDs ...string) scan.Completed {
	c := scan.Completed{
		Attempt:         attempt,
		HouseTypes:      []string{"apartment", "studio"},
		ClientSummary:   json.RawMessage(`{"house":{"booleans_true":["water_damage"],"categoricals":{"overall_cleanliness":"Good"}},"rooms":{},"products":{},"pros_cons":{"pros":["light"],"cons":[]},"checklist_metadata":{"house":{},"rooms":{},"products":{}}}`),
		ProsCons:        json.RawMessage(`{"pros":["light"],"cons":["noisy"]}`),
		CostInfo:        json.RawMessage(`{"tokens":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120},"costs":{"total_estimated_usd":0.0012,"pricing_note":"est"}}`),
		PipelineVersion: "2.0.0",
		Result:          json.RawMessage(`{"house_types":["apartment","studio"],"rooms":[]}`),
	}
	for i, r := range up.Rooms {
		c.Rooms = append(c.Rooms, scan.RoomTypes{RoomID: r.RoomID, RoomTypes: []string{[]string{"kitchen", "bedroom", "office"}[i%3]}})
	}
	for _, id := range extraRoomIDs {
		c.Rooms = append(c.Rooms, scan.RoomTypes{RoomID: id, RoomTypes: []string{"garage"}})
	}
	base := h.w.now
	c.AgentRuns = []scan.AgentRun{
		{ID: domain.NewID(), AgentName: "house type", Model: "gpt-4o-mini", TokensIn: 80, TokensOut: 10,
			CostUSD: "0.0008", StartedAt: base.Add(-30 * time.Second), FinishedAt: base.Add(-20 * time.Second)},
		{ID: domain.NewID(), AgentName: "pros/cons analysis", Model: "gpt-4o-mini", TokensIn: 20, TokensOut: 10,
			CostUSD: "0.000400", StartedAt: base.Add(-10 * time.Second), FinishedAt: base.Add(-5 * time.Second)},
	}
	h.append(c)
	return c
}

func (h *history) fail(attempt int, code, reason string, willRetry bool) {
	f := scan.Failed{Attempt: attempt, Code: code, Reason: reason, Retryable: willRetry, WillRetry: willRetry}
	if willRetry {
		h.append(f, scan.ProcessingStarted{Attempt: attempt + 1, Retry: 1,
			InputsSnapshot: scan.InputsSnapshot{RoomsCount: 2, ImagesCount: 3}})
		return
	}
	h.append(f)
}

func (h *history) delete() { h.append(scan.Deleted{}) }

// raw appends an event with arbitrary bytes, as a buggy or newer writer could.
func (h *history) raw(typ string, data []byte) {
	h.w.t.Helper()
	d := h.w.data(typ, data, h.UserID)
	d.SchemaVersion = 1
	res, err := h.w.store.Append(context.Background(), scan.StreamName(h.ScanID), h.version, []event.Data{d})
	if err != nil {
		h.w.t.Fatalf("append: %v", err)
	}
	h.version = res.Version
}

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func ptr[T any](v T) *T { return &v }

// canonicalJSON re-encodes JSON so that equal values compare equal whatever the
// engine did to whitespace and key order (Postgres jsonb).
func canonicalJSON(t testing.TB, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return b
}
