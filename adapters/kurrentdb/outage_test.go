package kurrentdb_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/kurrentdb"
	"github.com/scanledger/scanledger/adapters/kurrentdb/kurrentdbtest"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/internal/logtest"
)

func openLogged(t *testing.T, conn string) (*kurrentdb.Store, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	s, err := kurrentdb.Open(t.Context(), conn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.StreamPrefixes = []string{"test-"}
	s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() { _ = s.Close() })
	return s, logs
}

// collector subscribes from the start and records every delivered event ID.
type collector struct {
	mu      sync.Mutex
	ids     []string
	arrived chan struct{}
	done    chan error
}

func subscribe(t *testing.T, s event.Store) (*collector, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	c := &collector{arrived: make(chan struct{}, 1000), done: make(chan error, 1)}
	go func() {
		c.done <- s.Subscribe(ctx, event.Start, func(_ context.Context, batch []event.Recorded) error {
			c.mu.Lock()
			for _, e := range batch {
				c.ids = append(c.ids, e.ID)
			}
			c.mu.Unlock()
			c.arrived <- struct{}{}
			return nil
		})
	}()
	t.Cleanup(cancel)
	return c, cancel
}

// waitFor waits until the subscription delivered exactly want, in order, and fails on
// anything more (a repeat) or different.
func (c *collector) waitFor(t *testing.T, want []string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		got := append([]string(nil), c.ids...)
		c.mu.Unlock()
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("delivered %v, want %v", got, want)
			}
		}
		if len(got) > len(want) {
			t.Fatalf("delivered %d events, want %d (repeats?): %v", len(got), len(want), got)
		}
		if len(got) == len(want) {
			// Nothing more may follow: give a repeat a moment to show.
			select {
			case <-c.arrived:
				continue
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
		select {
		case <-c.arrived:
		case <-deadline:
			t.Fatalf("delivered %d events, want %d", len(got), len(want))
		}
	}
}

// appendUntilUp retries an append with the same events until the store takes it, as
// a client whose request got 503 does; every failure meanwhile must be EUNAVAILABLE.
func appendUntilUp(t *testing.T, s event.Store, stream string, expected int64, events []event.Data) event.AppendResult {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		res, err := s.Append(ctx, stream, expected, events)
		cancel()
		if err == nil {
			return res
		}
		if domain.ErrorCode(err) != domain.EUNAVAILABLE {
			t.Fatalf("Append during outage = %v, want EUNAVAILABLE", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A KurrentDB restart long enough for the v4 client to give up and close itself: the
// Store answers EUNAVAILABLE meanwhile, builds a new client once the server is back,
// and the subscription resumes after the last delivered event, nothing lost or
// repeated.
func TestRestartMidSubscription(t *testing.T) {
	fs, conn := kurrentdbtest.Start(t)
	s, logs := openLogged(t, conn)
	c, _ := subscribe(t, s)

	var want []string
	for range 3 {
		e := testEvent()
		if _, err := s.Append(t.Context(), "test-r", event.Any, []event.Data{e}); err != nil {
			t.Fatalf("Append: %v", err)
		}
		want = append(want, e.ID)
	}
	c.waitFor(t, want)

	fs.Stop()
	// Long enough for the client's discovery (10 attempts, 100 ms apart) to give up.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		_, err := s.Append(t.Context(), "test-r", event.Any, []event.Data{testEvent()})
		if domain.ErrorCode(err) != domain.EUNAVAILABLE {
			t.Fatalf("Append while down = %v, want EUNAVAILABLE", err)
		}
		if err := s.Ready(t.Context()); domain.ErrorCode(err) != domain.EUNAVAILABLE {
			t.Fatalf("Ready while down = %v, want EUNAVAILABLE", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fs.Restart(t)

	for _, stream := range []string{"test-r", "test-s"} {
		e := testEvent()
		appendUntilUp(t, s, stream, event.Any, []event.Data{e})
		want = append(want, e.ID)
	}
	c.waitFor(t, want)
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready after recovery = %v", err)
	}
	if !strings.Contains(logs.String(), "client closed itself") || !strings.Contains(logs.String(), "client rebuilt") {
		t.Fatalf("no log line about the closed client and its rebuild:\n%s", logs)
	}
	// The events appended while the server was down failed: none may show up.
	got, err := s.ReadStream(t.Context(), "test-r", 0, 100)
	if err != nil || len(got) != 4 {
		t.Fatalf("ReadStream = %d events, %v; want 4", len(got), err)
	}
}

// Scanledger starting before KurrentDB: the first calls fail with EUNAVAILABLE, and
// the Store serves as soon as the server is up, without a restart of ours.
func TestStartBeforeServer(t *testing.T) {
	fs, conn := kurrentdbtest.Start(t)
	fs.Stop()
	s, _ := openLogged(t, conn)
	c, _ := subscribe(t, s)
	if _, err := s.ReadAll(t.Context(), event.Start, 10); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("ReadAll before the server = %v, want EUNAVAILABLE", err)
	}
	time.Sleep(1500 * time.Millisecond)
	fs.Restart(t)
	e := testEvent()
	appendUntilUp(t, s, "test-late", event.NoStream, []event.Data{e})
	c.waitFor(t, []string{e.ID})
}

// A crash mid-append: the server stored the events but the client never heard. The
// caller sees EUNAVAILABLE and retries with the same IDs once the server is back,
// which succeeds with the first result, whether the retry uses an exact expected
// version or Any (whose server-side memory of recent IDs a restart erases). A crash
// before storing leaves nothing, and the retry stores it once.
func TestRestartMidAppend(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stored   bool
		expected int64
	}{
		{"stored, exact version", true, 0},
		{"stored, any", true, event.Any},
		{"not stored, exact version", false, 0},
		{"not stored, any", false, event.Any},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, conn := kurrentdbtest.Start(t)
			s, _ := openLogged(t, conn)
			c, _ := subscribe(t, s)
			first := testEvent()
			if _, err := s.Append(t.Context(), "test-m", event.NoStream, []event.Data{first}); err != nil {
				t.Fatalf("Append: %v", err)
			}
			c.waitFor(t, []string{first.ID})

			batch := []event.Data{testEvent(), testEvent()}
			fs.CrashOnNextAppend(tc.stored)
			if _, err := s.Append(t.Context(), "test-m", tc.expected, batch); domain.ErrorCode(err) != domain.EUNAVAILABLE {
				t.Fatalf("Append during the crash = %v, want EUNAVAILABLE", err)
			}
			time.Sleep(1500 * time.Millisecond) // let the client give up on the dead server
			fs.Restart(t)
			res := appendUntilUp(t, s, "test-m", tc.expected, batch)
			if res.Version != 2 {
				t.Fatalf("retry landed at version %d, want 2", res.Version)
			}
			got, err := s.ReadStream(t.Context(), "test-m", 0, 10)
			if err != nil || len(got) != 3 || got[1].ID != batch[0].ID || got[2].ID != batch[1].ID {
				t.Fatalf("ReadStream = %+v, %v; want the first event and the batch once", got, err)
			}
			c.waitFor(t, []string{first.ID, batch[0].ID, batch[1].ID})
		})
	}
}

// Calls never outlive their context, even when the client underneath hangs.
func TestCallsHonourContextWhileDown(t *testing.T) {
	fs, conn := kurrentdbtest.Start(t)
	fs.Stop()
	s, _ := openLogged(t, conn)
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		_, err := s.ReadStream(ctx, "test-x", 0, 1)
		cancel()
		if err == nil {
			t.Fatal("ReadStream on a stopped server succeeded")
		}
		if !errors.Is(err, context.DeadlineExceeded) && domain.ErrorCode(err) != domain.EUNAVAILABLE {
			t.Fatalf("ReadStream = %v, want the deadline or EUNAVAILABLE", err)
		}
	}
}
