package kurrentdb_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/kurrentdb"
	"github.com/scanledger/scanledger/adapters/kurrentdb/kurrentdbtest"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/eventstoretest"
)

// The suite's streams are named "test-<tag>-...", so the all-stream is configured to
// that prefix here, where production uses kurrentdb.DefaultStreamPrefix.
func open(t *testing.T, conn string) *kurrentdb.Store {
	t.Helper()
	s, err := kurrentdb.Open(t.Context(), conn)
	if err == nil {
		s.StreamPrefixes = []string{"test-"}
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	_, conn := kurrentdbtest.Start(t)
	eventstoretest.RunWithOptions(t, func(t *testing.T) event.Store { return open(t, conn) },
		eventstoretest.Options{PerStreamEventIDs: true})
}

// TestLiveConformance runs the suite against a real KurrentDB. It is opt-in by design
// (none can run in CI here): set KURRENTDB_URL, e.g.
// KURRENTDB_URL='esdb://127.0.0.1:2113?tls=false', to run it; otherwise it is skipped.
func TestLiveConformance(t *testing.T) {
	conn := os.Getenv("KURRENTDB_URL")
	if conn == "" {
		t.Skip("KURRENTDB_URL not set: the live KurrentDB suite is opt-in")
	}
	eventstoretest.RunWithOptions(t, func(t *testing.T) event.Store { return open(t, conn) },
		eventstoretest.Options{Timeout: 60 * time.Second, PerStreamEventIDs: true})
}

// A dropped subscription (node restart, leader change) must resume after the last
// delivered event: nothing missed, nothing repeated, and no error for the caller.
func TestSubscribeResumesAfterDrop(t *testing.T) {
	fs, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var (
		mu  sync.Mutex
		got []string
	)
	arrived := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, event.Start, func(_ context.Context, batch []event.Recorded) error {
			mu.Lock()
			for _, e := range batch {
				got = append(got, e.ID)
			}
			mu.Unlock()
			arrived <- struct{}{}
			return nil
		})
	}()

	var want []string
	appendOne := func(stream string) {
		t.Helper()
		e := testEvent()
		if _, err := s.Append(ctx, stream, event.Any, []event.Data{e}); err != nil {
			t.Fatalf("Append: %v", err)
		}
		want = append(want, e.ID)
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			have := len(got)
			mu.Unlock()
			if have >= n {
				return
			}
			select {
			case <-arrived:
			case <-deadline:
				t.Fatalf("got %d events, want %d", have, n)
			}
		}
	}

	appendOne("test-a")
	appendOne("other-not-ours") // filtered out by prefix
	want = want[:1]
	waitFor(1)
	fs.DropSubscriptions()
	appendOne("test-a")
	appendOne("test-b")
	waitFor(3)
	fs.DropSubscriptions()
	appendOne("test-b")
	waitFor(4)

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// The default all-stream is scanledger's "scan-" streams only: others sharing the
// database, and system streams, stay out of ReadAll.
func TestReadAllDefaultPrefix(t *testing.T) {
	_, conn := kurrentdbtest.Start(t)
	s, err := kurrentdb.Open(t.Context(), conn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ours := testEvent()
	for stream, e := range map[string]event.Data{"scan-1": ours, "elsewhere-1": testEvent()} {
		if _, err := s.Append(t.Context(), stream, event.NoStream, []event.Data{e}); err != nil {
			t.Fatalf("Append(%s): %v", stream, err)
		}
	}
	got, err := s.ReadAll(t.Context(), event.Start, 10)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(got) != 1 || got[0].ID != ours.ID {
		t.Fatalf("ReadAll = %+v, want only %s", got, ours.ID)
	}
}

// kurrentdb:// is the current name of the scheme; the v4 client only parses esdb://.
func TestOpenAcceptsKurrentDBScheme(t *testing.T) {
	_, conn := kurrentdbtest.Start(t)
	s := open(t, strings.Replace(conn, "esdb://", "kurrentdb://", 1))
	e := testEvent()
	e.Metadata = nil // no metadata at all must round-trip too
	if _, err := s.Append(t.Context(), "test-k", event.NoStream, []event.Data{e}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got, err := s.ReadStream(t.Context(), "test-k", 0, 10)
	if err != nil {
		t.Fatalf("ReadStream: %v", err)
	}
	if len(got) != 1 || got[0].ID != e.ID || len(got[0].Metadata) != 0 || got[0].SchemaVersion != 1 {
		t.Fatalf("ReadStream = %+v, want event %s with empty metadata", got, e.ID)
	}
}

func TestOpenRejectsBadConnectionString(t *testing.T) {
	_, err := kurrentdb.Open(t.Context(), "http://nope")
	if domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("Open(http://...) = %v, want EINVALID", err)
	}
}

func TestBadCursorIsInvalid(t *testing.T) {
	_, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	for _, c := range []event.Cursor{"x", "1", "1:x", "-1:2"} {
		if _, err := s.ReadAll(t.Context(), c, 1); domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("ReadAll(%q) = %v, want EINVALID", c, err)
		}
	}
}

func testEvent() event.Data {
	id := domain.NewID()
	return event.Data{ID: id, Type: "T", SchemaVersion: 1, Data: []byte(`{}`), Metadata: []byte(`{"eventId":"` + id + `"}`)}
}

// A subscriber that is slower than the server (a projection pacing its commits) must
// get a backlog in batches of what has already arrived, not one event per call: one
// event per call would hold the subscriber to one event per pause.
func TestBacklogArrivesInBatches(t *testing.T) {
	_, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	const backlog = 500
	var want []event.Data
	for range backlog {
		want = append(want, testEvent())
	}
	if _, err := s.Append(t.Context(), "test-backlog", event.NoStream, want); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got, deliveries int
	err := s.Subscribe(ctx, event.Start, func(_ context.Context, batch []event.Recorded) error {
		for _, e := range batch {
			if e.ID != want[got].ID {
				t.Fatalf("event %d is %s, want %s", got, e.ID, want[got].ID)
			}
			got++
		}
		deliveries++
		if got == backlog {
			cancel()
			return nil
		}
		// Stands in for a paced commit; the events keep arriving meanwhile.
		time.Sleep(2 * time.Millisecond)
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v, want context.Canceled", err)
	}
	if deliveries > backlog/10 {
		t.Fatalf("%d events came in %d deliveries, want at most %d", backlog, deliveries, backlog/10)
	}
}
