package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// Payload sizes of a typical scanledger event: a ProgressReported body and the
// envelope metadata with its 64-hex chain link. scripts/bench-postgres.sh has pgbench
// insert rows of the same sizes.
const (
	benchDataSize     = 120
	benchMetadataSize = 250
)

// benchEvents returns n events with fresh ids and payloads of the sizes above. The
// data starts with the send time, for the latency benchmark. They are built by
// appending to byte slices, not by encoding/json, so that the benchmark measures the
// store rather than the caller's encoder.
func benchEvents(n int, sent time.Time) []event.Data {
	events := make([]event.Data, n)
	occurred := sent.UTC().Format(time.RFC3339Nano)
	for i := range events {
		id := domain.NewID()
		data := make([]byte, 0, benchDataSize)
		data = append(data, `{"sent":`...)
		data = strconv.AppendInt(data, sent.UnixNano(), 10)
		data = append(data, `,"stage":"analysing","progress":`...)
		data = strconv.AppendInt(data, int64(i%100), 10)
		data = append(data, `,"pad":"`...)
		for len(data) < benchDataSize-2 {
			data = append(data, 'x')
		}
		data = append(data, `"}`...)

		meta := make([]byte, 0, benchMetadataSize)
		meta = append(meta, `{"eventId":"`...)
		meta = append(meta, id...)
		meta = append(meta, `","occurredAt":"`...)
		meta = append(meta, occurred...)
		meta = append(meta, `","userId":"4f6c1b2e-8a51-4c1e-9d57-2b7f0e4a9c13","schemaVersion":1,"chain":"`...)
		for len(meta) < benchMetadataSize-2 {
			meta = append(meta, 'e')
		}
		meta = append(meta, `"}`...)
		events[i] = event.Data{ID: id, Type: "ProgressReported", SchemaVersion: 1, Data: data, Metadata: meta}
	}
	return events
}

// sentAt reads the send time back from a benchEvents payload.
func sentAt(data []byte) (time.Time, bool) {
	const prefix = `{"sent":`
	if len(data) < len(prefix) || string(data[:len(prefix)]) != prefix {
		return time.Time{}, false
	}
	rest := data[len(prefix):]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	ns, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// BenchmarkAppend measures append throughput: each writer appends to its own stream
// at its exact expected version, as command handlers do, b.N appends in all.
func BenchmarkAppend(b *testing.B) {
	s := openStore(b, newDatabase(b, 40))
	for _, batch := range []int{1, 10, 100} {
		for _, writers := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("batch=%d/writers=%d", batch, writers), func(b *testing.B) {
				benchmarkAppend(b, s, writers, batch)
			})
		}
	}
}

func benchmarkAppend(b *testing.B, s *postgres.Store, writers, batch int) {
	tag := domain.NewID()[:8]
	var next atomic.Int64
	b.ResetTimer()
	appendInParallel(b, s, writers, batch, func(w int) string { return fmt.Sprintf("bench-%s-%d", tag, w) },
		func() bool { return next.Add(1) <= int64(b.N) })
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*batch)/elapsed, "events/s")
	b.ReportMetric(float64(b.N)/elapsed, "appends/s")
}

// BenchmarkAppendToSubscriberLatency appends one event at a steady 1,000 appends/s
// for 10 s (2 s with -short) and measures how long each takes from the Append call
// to a subscriber's handler: through the in-process wake-up (same-instance), and
// through NOTIFY to a Store with its own pool (other-instance). It runs for that
// fixed time whatever b.N.
func BenchmarkAppendToSubscriberLatency(b *testing.B) {
	dbURL := newDatabase(b, 40)
	writer := openStore(b, dbURL)
	for _, where := range []string{"same-instance", "other-instance"} {
		b.Run(where, func(b *testing.B) {
			reader := writer
			if where == "other-instance" {
				reader = openStore(b, dbURL)
			}
			benchmarkLatency(b, writer, reader)
		})
	}
}

func benchmarkLatency(b *testing.B, writer, reader *postgres.Store) {
	const rate = 1000
	duration := 10 * time.Second
	if testing.Short() {
		duration = 2 * time.Second
	}
	total := int(duration.Seconds() * rate)
	ctx := b.Context()
	from, err := writer.Append(ctx, "fence-"+domain.NewID(), event.NoStream, benchEvents(1, time.Now()))
	if err != nil {
		b.Fatal(err)
	}

	latencies := make([]time.Duration, 0, total)
	allIn := make(chan struct{})
	subCtx, stop := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() {
		subDone <- reader.Subscribe(subCtx, from.Position, func(_ context.Context, batch []event.Recorded) error {
			now := time.Now()
			for _, e := range batch {
				if sent, ok := sentAt(e.Data); ok {
					latencies = append(latencies, now.Sub(sent))
				}
			}
			if len(latencies) == total {
				close(allIn)
			}
			return nil
		})
	}()

	// Senders take appends from a schedule, so one slow commit delays no other send.
	const senders = 32
	schedule := make(chan struct{}, senders)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		commits = make([]time.Duration, 0, total) // how long each Append took
		tag     = domain.NewID()[:8]
	)
	for w := range senders {
		wg.Go(func() {
			stream := fmt.Sprintf("latency-%s-%d", tag, w)
			version := event.NoStream
			for range schedule {
				sent := time.Now()
				res, err := writer.Append(ctx, stream, version, benchEvents(1, sent))
				if err != nil {
					b.Error(err)
					return
				}
				took := time.Since(sent)
				mu.Lock()
				commits = append(commits, took)
				mu.Unlock()
				version = res.Version
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		schedule <- struct{}{}
	}
	close(schedule)
	wg.Wait()
	sendTime := time.Since(start)
	select {
	case <-allIn:
	case <-time.After(30 * time.Second):
		b.Fatalf("the subscriber got %d of %d events", len(latencies), total)
	}
	stop()
	if err := <-subDone; !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	b.StopTimer()

	slices.Sort(latencies)
	slices.Sort(commits)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(total)/sendTime.Seconds(), "appends/s")
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
	b.ReportMetric(ms(latencies[len(latencies)-1]), "max-ms")
	// The Append calls alone: delivery can be no faster than the slowest append
	// that began before an event, since the event waits behind it.
	b.ReportMetric(ms(commits[len(commits)/2]), "append-p50-ms")
	b.ReportMetric(ms(commits[len(commits)*99/100]), "append-p99-ms")
}

// appendInParallel has writers append perAppend events at a time, each to its own
// stream (named by stream) at its exact expected version, as command handlers do,
// for as long as more says the budget they share is not spent.
func appendInParallel(b *testing.B, s *postgres.Store, writers, perAppend int, stream func(w int) string, more func() bool) {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			name, version := stream(w), event.NoStream
			for more() {
				res, err := s.Append(b.Context(), name, version, benchEvents(perAppend, time.Now()))
				if err != nil {
					b.Error(err)
					return
				}
				version = res.Version
			}
		})
	}
	wg.Wait()
}

// BenchmarkCatchUp reads an all-stream of 200,000 events from the start, as a
// projection rebuilding from scratch does: with ReadAll pages, and through Subscribe.
func BenchmarkCatchUp(b *testing.B) {
	const events, perAppend, writers = 200_000, 100, 8
	s := openStore(b, newDatabase(b, writers+4))
	ctx := b.Context()
	var next atomic.Int64
	appendInParallel(b, s, writers, perAppend, func(w int) string { return fmt.Sprintf("catch-up-%d", w) },
		func() bool { return next.Add(perAppend) <= events })
	if _, err := s.DB().Pool().Exec(ctx, `VACUUM ANALYZE events`); err != nil {
		b.Fatal(err)
	}

	for _, page := range []int{256, 1000} {
		b.Run(fmt.Sprintf("ReadAll/page=%d", page), func(b *testing.B) {
			for b.Loop() {
				n := 0
				for after := event.Start; ; {
					got, err := s.ReadAll(ctx, after, page)
					if err != nil {
						b.Fatal(err)
					}
					if len(got) == 0 {
						break
					}
					n += len(got)
					after = got[len(got)-1].Position
				}
				if n != events {
					b.Fatalf("read %d events, want %d", n, events)
				}
			}
			b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
		})
	}
	b.Run("Subscribe/batch=1000", func(b *testing.B) {
		reader := postgres.NewStore(s.DB())
		reader.SubscribeBatch = 1000
		defer reader.Close()
		errDone := errors.New("caught up")
		for b.Loop() {
			n := 0
			err := reader.Subscribe(ctx, event.Start, func(_ context.Context, batch []event.Recorded) error {
				if n += len(batch); n >= events {
					return errDone
				}
				return nil
			})
			if !errors.Is(err, errDone) {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
	})
}
