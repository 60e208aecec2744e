package scan_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/personal/personaltest"
	"github.com/scanledger/scanledger/domain/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// examples holds one fully populated example of every stored event type. The golden
// files under testdata/golden pin their stored JSON: a change that alters a stored
// shape fails here and needs a new schema version and an upcaster, not an edit.
func examples() []scan.Event {
	eta := 42
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	ht := "apartment"
	addr := "1 Main St"
	return []scan.Event{
		scan.Created{ScanID: "6f1c1a52-3f43-4a36-9a55-3f0b1d1c0a01", UserID: "0d5b7e3e-8a61-4f5e-b7a5-1a2b3c4d5e6f",
			HouseID: "b1d0c7a2-9c1e-4b7a-8f0e-2d3c4b5a6978", NewHouse: true, Address: "1 Main St"},
		scan.ImagesUploaded{Address: "1 Main St", Rooms: []scan.Room{{RoomID: "c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c", Ordinal: 0, Label: "Room 1",
			Images: []scan.Image{{ImageID: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", BlobKey: "scans/6f1c1a52-3f43-4a36-9a55-3f0b1d1c0a01/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d.jpg",
				ContentType: "image/jpeg", Bytes: 131833, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}}}},
		scan.ProcessingStarted{Attempt: 1, Retry: 0,
			Checklists: scan.Checklists{House: raw(`{"default":{"description":"All","items":[{"id":"water_damage","title":"Water damage","type":"boolean"}]}}`),
				Rooms: raw(`{}`), Products: raw(`{}`)},
			InputsSnapshot: scan.InputsSnapshot{HouseType: &ht, Address: &addr, RoomsCount: 1, ImagesCount: 1}},
		scan.ProgressReported{Attempt: 1, Progress: 20, Stage: "Analyzing images", ETASeconds: &eta},
		completedExample(),
		scan.Failed{Attempt: 1, Code: "agents_http_422", Reason: "house_checklist: field required", Retryable: false, WillRetry: false},
		scan.Deleted{},
	}
}

// goldenOwner is the scan's user in examples(): the owner of their sealed fields.
const goldenOwner = "0d5b7e3e-8a61-4f5e-b7a5-1a2b3c4d5e6f"

// fixedKeys gives every user a key derived from their id and never forgets anyone, so
// the sealed golden files are the same on every run.
type fixedKeys struct{}

func (fixedKeys) Key(_ context.Context, userID string, _ bool) ([]byte, error) {
	k := sha256.Sum256([]byte("golden key of " + userID))
	return k[:], nil
}
func (fixedKeys) Destroy(context.Context, string) error { return nil }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// goldenCipher seals repeatably: fixed keys, all-zero nonces (never do that for real).
func goldenCipher() *personal.Cipher { return &personal.Cipher{Keys: fixedKeys{}, Rand: zeros{}} }

// decodeStored decodes data stored as (typ, version) and opens its personal fields.
func decodeStored(typ string, version int, data []byte) (scan.Event, error) {
	e, err := scan.Decode(event.Recorded{ID: "x", Type: typ, SchemaVersion: version, Data: data})
	if err != nil {
		return nil, err
	}
	return scan.Open(context.Background(), goldenCipher(), e)
}

// completedExample is a Completed as the worker writes it: the analyzer's result and
// the summaries that repeat parts of it (stored once from version 2).
func completedExample() scan.Completed {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	return scan.Completed{Attempt: 1, HouseTypes: []string{"apartment"},
		Rooms: []scan.RoomTypes{{RoomID: "c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c", RoomTypes: []string{"kitchen"}}},
		ClientSummary: raw(`{"house":{"booleans_true":["water_damage"],"categoricals":{}},` +
			`"rooms":{"c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c":{"booleans_true":[],"categoricals":{"floor_condition":"Good"}}},` +
			`"products":{},"pros_cons":{"pros":["bright"],"cons":[]},` +
			`"checklist_metadata":{"house":{"water_damage":{"title":"Water damage","description":"","type":"boolean","options":null}},"rooms":{},"products":{}}}`),
		ProsCons: raw(`{"pros":["bright"],"cons":[]}`),
		CostInfo: raw(`{"tokens":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10},` +
			`"requests":{"total_requests":1,"avg_tokens_per_request":10},"models":{"gpt-4o-mini":10},` +
			`"agents":{"house type":10},"agents_detailed":{"house type":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"requests":1}},` +
			`"costs":{"total_estimated_usd":0.000012,"by_model":{},"pricing_note":""},"session":{"duration_seconds":2,"start_time":"","tokens_per_second":5}}`),
		AgentRuns: []scan.AgentRun{{ID: "e1e2e3e4-f5f6-4a7b-8c9d-0e1f2a3b4c5d", AgentName: "house type", Model: "gpt-4o-mini",
			ModelID:  "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
			TokensIn: 7, TokensOut: 3, CostUSD: "0.000012", StartedAt: at, FinishedAt: at.Add(2 * time.Second)}},
		PipelineVersion: "2.0.0",
		Result: raw(`{"house_types":["apartment"],` +
			`"house_checklist":{"booleans":{"water_damage":true},"categoricals":{},"conditionals":{}},` +
			`"rooms":[{"room_id":"c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c","room_types":["kitchen"],` +
			`"issues":{"booleans":{},"categoricals":{"floor_condition":"Good"},"conditionals":{}},` +
			`"products":{"booleans":{},"categoricals":{},"conditionals":{"fridge":{"exists":true,"condition":"Good","subitems":null}}}}],` +
			`"summary":{"house":["house:water_damage:true"],"rooms":["room:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:floor_condition:Good"],` +
			`"products":["product:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:fridge:exists","product:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:fridge:condition:Good"],` +
			`"custom":["house:water_damage:true","room:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:floor_condition:Good",` +
			`"product:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:fridge:exists","product:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:fridge:condition:Good"]},` +
			`"pros_cons":{"pros":["bright"],"cons":[]}}`)}
}

func TestGoldenEvents(t *testing.T) {
	for _, e := range examples() {
		t.Run(e.EventType(), func(t *testing.T) {
			sealed, err := scan.Seal(context.Background(), goldenCipher(), goldenOwner, e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := scan.Encode(sealed)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			stored := scan.SchemaVersion(e.EventType())
			path := goldenPath(e.EventType(), stored)
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./domain/scan -run Golden -update once to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("stored shape of %s changed:\n got %s\nwant %s", e.EventType(), pretty.Bytes(), want)
			}
			// The golden file, read as the version it was stored as, decodes back into
			// the same event.
			back, err := decodeStored(e.EventType(), stored, got)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, e) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", back, e)
			}
		})
	}
}

func goldenPath(typ string, version int) string {
	return filepath.Join("testdata", "golden", fmt.Sprintf("%s.v%d.json", typ, version))
}

// Events are never rewritten, so every shape ever stored must stay readable: each
// type has a golden file for every schema version up to the current one, and each
// decodes through the upcasters. A version bump without an upcaster fails here.
func TestGoldenEventsOfEveryStoredVersionStillDecode(t *testing.T) {
	for _, e := range examples() {
		typ := e.EventType()
		for v := 1; v <= scan.SchemaVersion(typ); v++ {
			data, err := os.ReadFile(goldenPath(typ, v))
			if err != nil {
				t.Errorf("%s v%d: %v (keep the golden file of every stored version)", typ, v, err)
				continue
			}
			got, err := decodeStored(typ, v, data)
			if err != nil {
				t.Errorf("%s stored as v%d no longer decodes: %v", typ, v, err)
				continue
			}
			if got.EventType() != typ {
				t.Errorf("%s v%d decoded as %s", typ, v, got.EventType())
			}
		}
	}
}

// Events written before personal fields were sealed (version 1) keep their address in
// clear; the upcasters carry it into the current shape, so they read as before.
func TestVersion1EventsWithAnAddressInClearReadAsBefore(t *testing.T) {
	want := map[string]scan.Event{}
	for _, e := range examples() {
		want[e.EventType()] = e
	}
	for _, typ := range []string{scan.TypeCreated, scan.TypeImagesUploaded, scan.TypeProcessingStarted} {
		data, err := os.ReadFile(goldenPath(typ, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(`"address": "1 Main St"`)) {
			t.Fatalf("%s v1 golden file has no address in clear", typ)
		}
		// No key store at all: plaintext needs none.
		e, err := scan.Decode(event.Recorded{ID: "x", Type: typ, SchemaVersion: 1, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e, want[typ]) {
			t.Errorf("%s v1 decoded as\n %#v\nwant %#v", typ, e, want[typ])
		}
		r := event.Recorded{Type: typ, SchemaVersion: 1, Data: data}
		if !scan.HoldsPlaintext(r) {
			t.Errorf("%s v1 with an address is not reported as plaintext", typ)
		}
	}
}

// Stored personal fields are ciphertext: the address is nowhere in the bytes, and the
// bytes cannot be written without sealing.
func TestPersonalFieldsAreStoredSealed(t *testing.T) {
	for _, e := range examples() {
		if _, err := scan.Encode(e); err == nil && e.EventType() != scan.TypeProgressReported &&
			e.EventType() != scan.TypeCompleted && e.EventType() != scan.TypeFailed && e.EventType() != scan.TypeDeleted {
			t.Errorf("%s with its address in clear was encoded", e.EventType())
		}
		sealed, err := scan.Seal(context.Background(), &personal.Cipher{Keys: personaltest.NewMemory()}, goldenOwner, e)
		if err != nil {
			t.Fatal(err)
		}
		b, err := scan.Encode(sealed)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("Main St")) {
			t.Errorf("%s stores the address in clear: %s", e.EventType(), b)
		}
		if scan.HoldsPlaintext(event.Recorded{Type: e.EventType(), SchemaVersion: scan.SchemaVersion(e.EventType()), Data: b}) {
			t.Errorf("%s at the current version is reported as plaintext", e.EventType())
		}
	}
}

// Once the owner's key is destroyed, every sealed field reads as personal.Erased and
// everything else as before.
func TestAForgottenOwnersFieldsReadAsErased(t *testing.T) {
	ctx := context.Background()
	keys := personaltest.NewMemory()
	c := &personal.Cipher{Keys: keys}
	var stored []event.Recorded
	for _, e := range examples() {
		sealed, err := scan.Seal(ctx, c, goldenOwner, e)
		if err != nil {
			t.Fatal(err)
		}
		b, err := scan.Encode(sealed)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, event.Recorded{ID: "x", Type: e.EventType(), SchemaVersion: scan.SchemaVersion(e.EventType()), Data: b})
	}
	if err := keys.Destroy(ctx, goldenOwner); err != nil {
		t.Fatal(err)
	}
	for i, r := range stored {
		e, err := scan.Decode(r)
		if err == nil {
			e, err = scan.Open(ctx, c, e)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := examples()[i]
		switch v := want.(type) {
		case scan.Created:
			v.Address = personal.Erased
			want = v
		case scan.ImagesUploaded:
			v.Address = personal.Erased
			want = v
		case scan.ProcessingStarted:
			erased := personal.Erased
			v.InputsSnapshot.Address = &erased
			want = v
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("%s after erasure:\n got %#v\nwant %#v", r.Type, e, want)
		}
	}
}

func TestDecodeRejectsUnknownTypesAndVersions(t *testing.T) {
	if _, err := scan.Decode(event.Recorded{Type: "Renamed", SchemaVersion: 1, Data: []byte(`{}`)}); err == nil {
		t.Fatal("unknown type decoded")
	}
	if _, err := scan.Decode(event.Recorded{Type: scan.TypeCreated, SchemaVersion: 9, Data: []byte(`{}`)}); err == nil {
		t.Fatal("future schema version decoded")
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range examples() {
		sealed, _ := scan.Seal(context.Background(), goldenCipher(), goldenOwner, e)
		b, _ := scan.Encode(sealed)
		f.Add(e.EventType(), 2, b)
		v1, _ := os.ReadFile(goldenPath(e.EventType(), 1))
		f.Add(e.EventType(), 1, v1)
	}
	f.Fuzz(func(t *testing.T, typ string, version int, data []byte) {
		// Decoding and opening arbitrary bytes of any version must fail cleanly or
		// succeed, never panic.
		e, err := scan.Decode(event.Recorded{Type: typ, SchemaVersion: version, Data: data})
		if err == nil {
			_, _ = scan.Open(context.Background(), goldenCipher(), e)
		}
	})
}
