package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/analytics"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/jobs"
)

// completeLikeTheWorker finishes attempt with a Completed shaped as the worker writes it
// from an agents-service response: summaries that repeat the result, which schema
// version 2 stores once.
func (h *history) completeLikeTheWorker(attempt int, up scan.ImagesUploaded) {
	var rooms, roomLines, productLines, clientRooms []string
	c := scan.Completed{Attempt: attempt, HouseTypes: []string{"apartment"}, PipelineVersion: "2.0.0",
		ProsCons: json.RawMessage(`{"pros":["light"],"cons":["noisy"]}`)}
	for i, r := range up.Rooms {
		typ := []string{"kitchen", "bedroom"}[i%2]
		c.Rooms = append(c.Rooms, scan.RoomTypes{RoomID: r.RoomID, RoomTypes: []string{typ}})
		rooms = append(rooms, fmt.Sprintf(`{"room_id":%q,"room_types":[%q],"issues":{"booleans":{"damp":true},"categoricals":{"floor":"Good"},"conditionals":{}},`+
			`"products":{"booleans":{},"categoricals":{},"conditionals":{"fridge":{"exists":true,"condition":"Poor","subitems":null}}}}`, r.RoomID, typ))
		roomLines = append(roomLines, fmt.Sprintf(`"room:%s:damp:true","room:%s:floor:Good"`, r.RoomID, r.RoomID))
		productLines = append(productLines, fmt.Sprintf(`"product:%s:fridge:exists","product:%s:fridge:condition:Poor"`, r.RoomID, r.RoomID))
		clientRooms = append(clientRooms, fmt.Sprintf(`%q:{"booleans_true":["damp"],"categoricals":{"floor":"Good"}}`, r.RoomID))
	}
	house := `"house:water_damage:true","house:cleanliness:Good"`
	lines := func(l []string) string { return strings.Join(l, ",") }
	c.Result = json.RawMessage(`{"house_types":["apartment"],` +
		`"house_checklist":{"booleans":{"water_damage":true},"categoricals":{"cleanliness":"Good"},"conditionals":{}},` +
		`"rooms":[` + lines(rooms) + `],` +
		`"summary":{"house":[` + house + `],"rooms":[` + lines(roomLines) + `],"products":[` + lines(productLines) + `],` +
		`"custom":[` + house + `,` + lines(roomLines) + `,` + lines(productLines) + `]},` +
		`"pros_cons":{"pros":["light"],"cons":["noisy"]}}`)
	c.ClientSummary = json.RawMessage(`{"house":{"booleans_true":["water_damage"],"categoricals":{"cleanliness":"Good"}},` +
		`"rooms":{` + lines(clientRooms) + `},"products":{},"pros_cons":{"pros":["light"],"cons":["noisy"]},` +
		`"checklist_metadata":{"house":{"water_damage":{"title":"Water damage","description":"","type":"boolean","options":[]}},"rooms":{},"products":{}}}`)
	c.CostInfo = json.RawMessage(`{"tokens":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120},` +
		`"requests":{"total_requests":2,"avg_tokens_per_request":60},"models":{"gpt-4o-mini":120},` +
		`"agents":{"house type":90,"pros/cons analysis":30},` +
		`"agents_detailed":{"house type":{"prompt_tokens":80,"completion_tokens":10,"total_tokens":90,"requests":1},` +
		`"pros/cons analysis":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30,"requests":1}},` +
		`"costs":{"total_estimated_usd":0.0012,"by_model":{},"pricing_note":"est"},"session":{"duration_seconds":2,"start_time":"","tokens_per_second":60}}`)
	base := h.w.now
	c.AgentRuns = []scan.AgentRun{
		{ID: domain.NewID(), AgentName: "house type", Model: "gpt-4o-mini", TokensIn: 80, TokensOut: 10,
			CostUSD: "0.0009", StartedAt: base, FinishedAt: base},
		{ID: domain.NewID(), AgentName: "pros/cons analysis", Model: "gpt-4o-mini", TokensIn: 20, TokensOut: 10,
			CostUSD: "0.0003", StartedAt: base, FinishedAt: base},
	}
	h.append(c)
}

// asVersion1 copies store's events into a new store, with every Completed written as
// schema version 1 wrote it: all its copies spelt out.
func asVersion1(t *testing.T, store *memStore) (*memStore, int) {
	t.Helper()
	recs, err := store.ReadAll(context.Background(), event.Start, store.len())
	if err != nil {
		t.Fatal(err)
	}
	out, rewritten := newMemStore(), 0
	for _, r := range recs {
		d := event.Data{ID: r.ID, Type: r.Type, SchemaVersion: r.SchemaVersion, Data: r.Data, Metadata: r.Metadata}
		if r.Type == scan.TypeCompleted {
			e, err := scan.Decode(r)
			if err != nil {
				t.Fatal(err)
			}
			var m event.Metadata
			if d.Data, err = json.Marshal(e); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(r.Metadata, &m); err != nil {
				t.Fatal(err)
			}
			m.SchemaVersion, d.SchemaVersion = 1, 1
			if d.Metadata, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			if len(d.Data) <= len(r.Data) {
				t.Fatalf("the Completed stored at version 2 (%d bytes) left nothing out of version 1's %d", len(r.Data), len(d.Data))
			}
			rewritten++
		}
		if _, err := out.Append(context.Background(), r.StreamID, r.Version-1, []event.Data{d}); err != nil {
			t.Fatal(err)
		}
	}
	return out, rewritten
}

// readModel dumps every row the scan projections write, sorted.
func readModel(t *testing.T, d *testDB) map[string][]string {
	t.Helper()
	dump := map[string][]string{}
	for _, table := range []string{"houses", "rooms", "house_room_images", "house_scan_summary", "scans", "scan_attempts",
		"scan_checklist_items", "agents_runs", "user_feed", "user_feed_scans", "scan_jobs"} {
		cols, rows := selectAll(t, d.read, "SELECT * FROM "+table)
		for _, vals := range rows {
			var row []string
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				row = append(row, fmt.Sprintf("%s=%v", cols[i], v))
			}
			dump[table] = append(dump[table], strings.Join(row, " "))
		}
		slices.Sort(dump[table])
	}
	return dump
}

// Events are never rewritten: scans completed before schema version 2 keep their
// Completed as version 1 stored it. Both project into the very same rows (the scan,
// its summary and agent runs, analytics, the live feed, jobs), so every answer read
// from them is the same.
func TestCompletedStoredAtEitherSchemaVersionProjectsTheSameRows(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		for i := range 3 {
			h := w.create(domain.NewID(), "", fmt.Sprintf("%d Main St", i))
			up := h.upload("", 2, 1)
			h.start(1)
			h.progress(1, 100, "Complete")
			h.completeLikeTheWorker(1, up)
		}
		old, rewritten := asVersion1(t, w.store)
		if rewritten != 3 {
			t.Fatalf("rewrote %d Completed events, want 3", rewritten)
		}
		projectors := func() []projections.Projection {
			return []projections.Projection{newScansProjector(), analytics.NewProjector(), feed.NewProjector(), jobs.NewProjector()}
		}
		w.catchUp(d, projectors()...)
		other := newSQLite(t)
		if d.name == "postgres" {
			other = newPostgres(t)
		}
		catchUp(t, other, old, nil, projectors()...)

		got, want := readModel(t, d), readModel(t, other)
		if len(got["house_scan_summary"]) != 3 || len(got["agents_runs"]) != 6 || len(got["scan_checklist_items"]) == 0 {
			t.Fatalf("the read model lacks what the Completed events carry: %v", got)
		}
		for table := range want {
			if !reflect.DeepEqual(got[table], want[table]) {
				t.Errorf("%s from version 2 events:\n%s\nfrom version 1 events:\n%s", table,
					strings.Join(got[table], "\n"), strings.Join(want[table], "\n"))
			}
		}
	})
}
