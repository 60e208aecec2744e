package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/personal/personaltest"
	"github.com/scanledger/scanledger/domain/scan"
)

// BenchmarkCommandByStreamLength measures what one command (a progress report) costs
// through scan.Handler on the real store, on a scan of 5 events and on one of 200,
// interleaved in the same loop so machine load hits both alike. Each command runs on a
// scan made just before it (outside the timing) by the same handler, so the lengths
// are exact. CPU time is reported beside wall time: on a busy machine the wait for the
// disk dominates the wall time of a commit. Run it with a fixed count, e.g. -benchtime 300x. "uncached" is how every
// command ran before the handler kept scans loaded: reading the whole stream.
func BenchmarkCommandByStreamLength(b *testing.B) {
	b.Run("uncached", func(b *testing.B) { benchmarkCommandByStreamLength(b, -1) })
	b.Run("cached", func(b *testing.B) { benchmarkCommandByStreamLength(b, 0) })
}

func benchmarkCommandByStreamLength(b *testing.B, cacheSize int) {
	ctx := b.Context()
	h := scan.NewHandler(sqlite.NewStore(openDB(b)))
	h.CacheSize = cacheSize
	h.Cipher = &personal.Cipher{Keys: personaltest.NewMemory()}
	lengths := [2]int{5, 200}
	var spent, cpu [2]time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		var ids [2]string
		for i, l := range lengths {
			ids[i] = fmt.Sprintf("bench-%d-%d", l, n)
			makeScan(ctx, b, h, ids[i], l)
		}
		b.StartTimer()
		for k := range lengths {
			i := (k + n) % 2 // alternate which length goes first
			start, startCPU := time.Now(), cpuTime()
			if _, err := h.Execute(ctx, ids[i], scan.Meta{}, func(s *scan.Scan) error {
				return s.ReportProgress(1, 50, "analysing room 3 of 12", nil)
			}); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(start)
			cpu[i] += cpuTime() - startCPU
		}
		n++
	}
	short := float64(spent[0].Microseconds()) / float64(n)
	long := float64(spent[1].Microseconds()) / float64(n)
	b.ReportMetric(short, "µs/cmd@5")
	b.ReportMetric(long, "µs/cmd@200")
	b.ReportMetric(long/short, "ratio")
	shortCPU := float64(cpu[0].Microseconds()) / float64(n)
	longCPU := float64(cpu[1].Microseconds()) / float64(n)
	b.ReportMetric(shortCPU, "cpu-µs/cmd@5")
	b.ReportMetric(longCPU, "cpu-µs/cmd@200")
	b.ReportMetric(longCPU/shortCPU, "cpu-ratio")
}

// makeScan writes a running scan of exactly events events: created, photos uploaded,
// processing started, then progress reports.
func makeScan(ctx context.Context, b *testing.B, h *scan.Handler, id string, events int) {
	b.Helper()
	if _, err := h.Execute(ctx, id, scan.Meta{UserID: "u1"}, func(s *scan.Scan) error {
		return s.Create("u1", "house-"+id, true, "1 Main St")
	}); err != nil {
		b.Fatal(err)
	}
	room := scan.Room{RoomID: "room-" + id, Label: "Room 1"}
	for i := range 6 {
		room.Images = append(room.Images, scan.Image{ImageID: fmt.Sprintf("img-%s-%d", id, i), BlobKey: fmt.Sprintf("scans/%s/%d.jpg", id, i),
			ContentType: "image/jpeg", Bytes: 1_100_000, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})
	}
	cl := scan.Checklists{House: []byte(`{"default":{"description":"All","items":[{"id":"water_damage","title":"Water damage","type":"boolean"}]}}`),
		Rooms: []byte(`{}`), Products: []byte(`{}`)}
	if _, err := h.Execute(ctx, id, scan.Meta{UserID: "u1"}, func(s *scan.Scan) error {
		if err := s.UploadImages([]scan.Room{room}, ""); err != nil {
			return err
		}
		if err := s.StartProcessing("u1", cl, nil); err != nil {
			return err
		}
		for s.Version < int64(events-1) {
			if err := s.ReportProgress(1, 10, "analysing", nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}
