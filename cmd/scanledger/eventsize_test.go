package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents"
	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/adapters/kurrentdb"
	"github.com/scanledger/scanledger/adapters/kurrentdb/kurrentdbtest"
	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/checklist"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/worker"
	"github.com/scanledger/scanledger/migrations"
)

// eventSizeBound is what our largest append may weigh: a quarter under KurrentDB
// 24.10/25.0's default MaxAppendSize of 1 MiB, so those servers need no setting
// (docs/kurrentdb.md).
const eventSizeBound = 768 << 10

// largestScan is the largest scan accepted (scan.MaxRooms rooms, scan.MaxImagesPerScan
// photos) with the default checklists, processed by the agents-service's response
// shape (contract section 5.4, produced by agentstest from the real checklists).
type largestScan struct {
	rooms     []scan.Room
	started   scan.ProcessingStarted
	completed scan.Completed
}

func newLargestScan(t testing.TB) largestScan {
	t.Helper()
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
	ls := largestScan{started: scan.ProcessingStarted{Attempt: 1, Checklists: scan.Checklists(set),
		InputsSnapshot: scan.InputsSnapshot{RoomsCount: scan.MaxRooms, ImagesCount: scan.MaxImagesPerScan}}}

	photo, err := os.ReadFile(sharedDir(t, "data", "photos", "room1-1.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	svc := agentstest.NewServer(t)
	req := analysis.Request{ScanID: domain.NewID(), Attempt: 1,
		HouseChecklist: set.House, RoomsChecklist: set.Rooms, ProductsChecklist: set.Products}
	perRoom := scan.MaxImagesPerScan / scan.MaxRooms
	for i := range scan.MaxRooms {
		room := analysis.Room{ID: domain.NewID()}
		stored := scan.Room{RoomID: room.ID, Ordinal: i, Label: "Room"}
		for range perRoom {
			id := domain.NewID()
			room.Images = append(room.Images, analysis.Image{ID: id, ContentType: "image/jpeg", URL: svc.ServeImage("image/jpeg", photo)})
			stored.Images = append(stored.Images, scan.Image{ImageID: id, BlobKey: "scans/" + req.ScanID + "/" + id,
				ContentType: "image/jpeg", Bytes: int64(len(photo)), SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})
		}
		req.Rooms = append(req.Rooms, room)
		ls.rooms = append(ls.rooms, stored)
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
	if ls.completed, err = worker.Completed(ctx, resp, 1, now, now, nil); err != nil {
		t.Fatal(err)
	}
	return ls
}

// appendSize is what KurrentDB counts for an append: data, metadata and twice the type
// of every event.
func appendSize(events []event.Data) int {
	n := 0
	for _, e := range events {
		n += len(e.Data) + len(e.Metadata) + 2*len(e.Type)
	}
	return n
}

// The two largest events stay a quarter under KurrentDB 24.10/25.0's 1 MiB append
// limit on every engine: a ProcessingStarted carries the merged checklists, a Completed
// the agents-service's whole result (appended with the worker's last two progress
// events, as the worker does). Each engine stores them and reads back what was decided,
// and the KurrentDB test server enforces the real server's default limit. Run with -v
// for the figures (docs/kurrentdb.md).
func TestLargestEventsFitKurrentDBAppendLimit(t *testing.T) {
	ls := newLargestScan(t)
	full, err := json.Marshal(ls.completed) // as schema version 1 stored it
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Completed at schema version 1 (every copy written out): %d bytes of data (%.1f%% of %d)",
		len(full), 100*float64(len(full))/kurrentdb.DefaultMaxAppendSize, kurrentdb.DefaultMaxAppendSize)

	engines := []struct {
		name string
		open func(t *testing.T) event.Store
	}{
		{"sqlite", func(t *testing.T) event.Store {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"), migrations.EventStore)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return sqlite.NewStore(db)
		}},
		{"postgres", func(t *testing.T) event.Store {
			s, err := postgres.Open(t.Context(), pgtest.New(t, "scanledger_eventsize"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			return s
		}},
		{"kurrentdb at its default 1 MiB limit", func(t *testing.T) event.Store {
			_, conn := kurrentdbtest.Start(t)
			s, err := kurrentdb.Open(t.Context(), conn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			h := scan.NewHandler(eng.open(t))
			id, meta := domain.NewID(), scan.Meta{UserID: domain.NewID(), CorrelationID: "eventsize"}
			run := func(what string, decide func(*scan.Scan) error) []event.Data {
				t.Helper()
				res, err := h.Execute(t.Context(), id, meta, decide)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				return res.Events
			}
			run("create", func(s *scan.Scan) error { return s.Create(meta.UserID, domain.NewID(), true, "") })
			run("upload", func(s *scan.Scan) error { return s.UploadImages(ls.rooms, "") })
			started := run("process", func(s *scan.Scan) error {
				return s.StartProcessing(meta.UserID, ls.started.Checklists, ls.started.InputsSnapshot.HouseType)
			})
			var decided scan.Completed
			completed := run("complete", func(s *scan.Scan) error {
				if err := s.ReportProgress(1, 90, "Saving results", nil); err != nil {
					return err
				}
				if err := s.ReportProgress(1, 100, "Complete", nil); err != nil {
					return err
				}
				err := s.Complete(ls.completed)
				decided = s.Changes()[len(s.Changes())-1].(scan.Completed)
				return err
			})
			for _, a := range []struct {
				name   string
				events []event.Data
			}{{"ProcessingStarted", started}, {"Completed with two progress events", completed}} {
				size := appendSize(a.events)
				t.Logf("%s for %d rooms, %d photos: %d bytes (%.1f%% of %d)", a.name, scan.MaxRooms, scan.MaxImagesPerScan,
					size, 100*float64(size)/kurrentdb.DefaultMaxAppendSize, kurrentdb.DefaultMaxAppendSize)
				if size >= eventSizeBound {
					t.Errorf("the append of %s is %d bytes, not under %d", a.name, size, eventSizeBound)
				}
			}

			history, err := h.History(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			last := history[len(history)-1]
			got, err := scan.Decode(last)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(decided)
			back, _ := json.Marshal(got)
			if string(back) != string(want) {
				t.Fatalf("%s reads back differently from what was decided (%d bytes, want %d)", last.Type, len(back), len(want))
			}
		})
	}
}

// BenchmarkLargestCompleted prints what storing and reading the largest Completed
// costs: encoding checks that every copy left out computes back exactly.
func BenchmarkLargestCompleted(b *testing.B) {
	c := newLargestScan(b).completed
	data, err := scan.Encode(c)
	if err != nil {
		b.Fatal(err)
	}
	rec := event.Recorded{Type: scan.TypeCompleted, SchemaVersion: scan.SchemaVersion(scan.TypeCompleted), Data: data}
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := scan.Encode(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := scan.Decode(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	full, _ := json.Marshal(c)
	v1 := event.Recorded{Type: scan.TypeCompleted, SchemaVersion: 1, Data: full}
	b.Run("decode version 1", func(b *testing.B) {
		for b.Loop() {
			if _, err := scan.Decode(v1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
