package sqlite_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// benchEvents returns n events shaped like real ones: a ProgressReported-sized
// payload and a full metadata envelope with its hash chain, with IDs from newID.
func benchEvents(n int, newID func() string) []event.Data {
	events := make([]event.Data, n)
	prev := "scan-bench"
	for i := range events {
		id := newID()
		data := fmt.Appendf(nil, `{"attempt":1,"progress":%d,"stage":"analysing room %d of 12","etaSeconds":%d}`, i%101, i%12, 600-i%600)
		chain := event.Chain(prev, id, "ProgressReported", 1, data)
		prev = chain
		meta, _ := json.Marshal(event.Metadata{
			EventID:       id,
			OccurredAt:    time.Now().UTC(),
			UserID:        "6f1c2d4e-0a7b-4c1d-9e2f-3a4b5c6d7e8f",
			CorrelationID: "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
			SchemaVersion: 1,
			Chain:         chain,
		})
		events[i] = event.Data{ID: id, Type: "ProgressReported", SchemaVersion: 1, Data: data, Metadata: meta}
	}
	return events
}

// timeOrderedID returns an RFC 9562 version 7 UUID: 48 bits of Unix milliseconds,
// then random bits. Unlike version 4 (domain.NewID), consecutive IDs sort together,
// so the event_id index grows at its right edge instead of dirtying a random page
// per event; the batched benchmark runs with both to show what that is worth.
func timeOrderedID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func reportEventsPerSecond(b *testing.B, events int) {
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppend: one event per append, hence per transaction, on one stream at an
// exact expected version, as the command handler does.
func BenchmarkAppend(b *testing.B) {
	ctx := b.Context()
	s := sqlite.NewStore(openDB(b))
	const pool = 4096 // events made up front, outside the timing
	events := benchEvents(pool, domain.NewID)
	version, n := event.NoStream, 0
	for b.Loop() {
		if n%pool == 0 && n > 0 {
			b.StopTimer()
			events = benchEvents(pool, domain.NewID)
			b.StartTimer()
		}
		res, err := s.Append(ctx, "scan-bench", version, events[n%pool:n%pool+1])
		if err != nil {
			b.Fatal(err)
		}
		version = res.Version
		n++
	}
	reportEventsPerSecond(b, n)
}

// BenchmarkAppendBatch: 100 events per append.
func BenchmarkAppendBatch(b *testing.B) {
	b.Run("random-ids", func(b *testing.B) { benchmarkAppendBatch(b, domain.NewID) })
	b.Run("time-ordered-ids", func(b *testing.B) { benchmarkAppendBatch(b, timeOrderedID) })
}

func benchmarkAppendBatch(b *testing.B, newID func() string) {
	ctx := b.Context()
	s := sqlite.NewStore(openDB(b))
	const batch = 100
	n := 0
	for b.Loop() {
		b.StopTimer()
		events := benchEvents(batch, newID)
		b.StartTimer()
		if _, err := s.Append(ctx, fmt.Sprintf("scan-%d", n/50), event.Any, events); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportEventsPerSecond(b, n*batch)
}

// BenchmarkReadAll walks 100,000 stored events by cursor, 1,000 at a time, as a
// projection rebuilding from position zero does.
func BenchmarkReadAll(b *testing.B) {
	ctx := b.Context()
	s := sqlite.NewStore(openDB(b))
	const total, batch = 100_000, 1000
	for i := range total / batch {
		if _, err := s.Append(ctx, fmt.Sprintf("scan-%d", i), event.NoStream, benchEvents(batch, domain.NewID)); err != nil {
			b.Fatal(err)
		}
	}
	read := 0
	for b.Loop() {
		after := event.Start
		for {
			events, err := s.ReadAll(ctx, after, batch)
			if err != nil {
				b.Fatal(err)
			}
			if len(events) == 0 {
				break
			}
			read += len(events)
			after = events[len(events)-1].Position
		}
	}
	if read != total*b.N {
		b.Fatalf("read %d events, want %d", read, total*b.N)
	}
	reportEventsPerSecond(b, read)
}
