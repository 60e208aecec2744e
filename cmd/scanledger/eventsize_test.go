package main_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents"
	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/adapters/kurrentdb"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/checklist"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/worker"
)

// The two largest events, measured on the agents-service's response shape (contract
// section 5.4, produced by agentstest from the real checklists) for the largest scan
// accepted (scan.MaxRooms rooms, scan.MaxImagesPerScan photos) with the default
// checklists: a Completed carries the whole response, a ProcessingStarted the merged
// checklists. Measured: the Completed is just over 1 MiB, above the default
// MaxAppendSize of KurrentDB 24.10 LTS and 25.0, so docs/kurrentdb.md asks for a
// MaxAppendSize of at least 4 MiB there; this test keeps both under half of that
// and far under the per-event limit. Run with -v to print the figures.
func TestLargestEventsFitKurrentDBAppendLimit(t *testing.T) {
	const requiredMaxAppendSize = 4 << 20 // docs/kurrentdb.md
	defaults, err := checklist.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	sources := map[checklist.Scope]checklist.Sources{}
	for sc, base := range defaults {
		sources[sc] = checklist.Sources{Base: base}
	}
	set, err := checklist.MergeAll(sources)
	if err != nil {
		t.Fatal(err)
	}
	started := scan.ProcessingStarted{Attempt: 1, Checklists: scan.Checklists(set)}

	photo, err := os.ReadFile(sharedDir(t, "data", "photos", "room1-1.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	svc := agentstest.NewServer(t)
	req := analysis.Request{ScanID: domain.NewID(), Attempt: 1,
		HouseChecklist: set.House, RoomsChecklist: set.Rooms, ProductsChecklist: set.Products}
	perRoom := scan.MaxImagesPerScan / scan.MaxRooms
	for range scan.MaxRooms {
		room := analysis.Room{ID: domain.NewID()}
		for range perRoom {
			room.Images = append(room.Images, analysis.Image{ID: domain.NewID(), ContentType: "image/jpeg", URL: svc.ServeImage("image/jpeg", photo)})
		}
		req.Rooms = append(req.Rooms, room)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	resp, err := agents.New(svc.URL).Analyze(ctx, req, func(analysis.Progress) {})
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if len(resp.Result.Rooms) != scan.MaxRooms {
		t.Fatalf("analysed %d rooms, want %d", len(resp.Result.Rooms), scan.MaxRooms)
	}
	now := time.Now()
	completed, err := worker.Completed(ctx, resp, 1, now, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("breakdown: result %d, clientSummary %d, costInfo %d, prosCons %d, agentRuns %d", len(completed.Result), len(completed.ClientSummary), len(completed.CostInfo), len(completed.ProsCons), len(completed.AgentRuns))
	for _, e := range []scan.Event{started, completed} {
		b, err := scan.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		// KurrentDB counts data, metadata (ours stays under 1 KiB) and twice the type.
		size := len(b) + 1024 + 2*len(e.EventType())
		t.Logf("%s for %d rooms, %d photos: %d bytes (%.1f%% of %d)", e.EventType(), scan.MaxRooms, scan.MaxImagesPerScan,
			size, 100*float64(size)/kurrentdb.DefaultMaxAppendSize, kurrentdb.DefaultMaxAppendSize)
		if size > requiredMaxAppendSize/2 {
			t.Errorf("%s is %d bytes: more than half of the %d bytes docs/kurrentdb.md asks for", e.EventType(), size, requiredMaxAppendSize)
		}
	}
}
