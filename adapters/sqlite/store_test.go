package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/eventstoretest"
	"github.com/scanledger/scanledger/migrations"
)

// openDB opens a fresh database file with the event store schema, closed at the end
// of the test.
func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), migrations.EventStore)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storeWithOneEvent opens a fresh database and a Store on it, and appends one event
// to stream.
func storeWithOneEvent(t testing.TB, stream string) (*sqlite.DB, *sqlite.Store) {
	t.Helper()
	db := openDB(t)
	s := sqlite.NewStore(db)
	if _, err := s.Append(t.Context(), stream, event.NoStream, newEvents(1)); err != nil {
		t.Fatal(err)
	}
	return db, s
}

// The poll interval is an hour so that every live delivery in the suite must come
// from the in-process wake-up after a commit, and every cancellation must interrupt
// the wait itself: with the default poll, a missing wake-up would pass unseen, only
// slower.
func TestStoreConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) event.Store {
		return pollEvery(sqlite.NewStore(openDB(t)), time.Hour)
	})
}

func newEvents(n int) []event.Data {
	events := make([]event.Data, n)
	for i := range events {
		events[i] = event.Data{ID: domain.NewID(), Type: "Test", SchemaVersion: 1, Data: []byte(`{}`), Metadata: []byte(`{}`)}
	}
	return events
}

func TestCursorsAreDecimalPositionsWithoutGaps(t *testing.T) {
	ctx := t.Context()
	s := sqlite.NewStore(openDB(t))
	if _, err := s.Append(ctx, "a", event.NoStream, newEvents(2)); err != nil {
		t.Fatal(err)
	}
	// A failed append must not burn a position.
	if _, err := s.Append(ctx, "a", event.NoStream, newEvents(1)); !errors.Is(err, event.ErrWrongExpectedVersion) {
		t.Fatalf("got %v, want ErrWrongExpectedVersion", err)
	}
	res, err := s.Append(ctx, "b", event.NoStream, newEvents(3))
	if err != nil {
		t.Fatal(err)
	}
	if res.Position != "5" {
		t.Fatalf("AppendResult.Position = %q, want \"5\"", res.Position)
	}
	all, err := s.ReadAll(ctx, event.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		if want := event.Cursor(strconv.Itoa(i + 1)); e.Position != want {
			t.Fatalf("event %d: Position = %q, want %q", i, e.Position, want)
		}
	}
}

func TestMalformedCursorsAreInvalid(t *testing.T) {
	eventstoretest.MalformedCursorsAreInvalid(t, sqlite.NewStore(openDB(t)),
		[]event.Cursor{"x", "-1", "01", "+1", " 1", "1.0", "99999999999999999999", "0x10"}, "0")
}

func TestStoredEventsCannotBeUpdatedOrDeleted(t *testing.T) {
	ctx := t.Context()
	db, _ := storeWithOneEvent(t, "a")
	if _, err := db.Write.ExecContext(ctx, `UPDATE events SET data = '{"forged":true}'`); err == nil {
		t.Error("UPDATE of an event succeeded")
	}
	if _, err := db.Write.ExecContext(ctx, `DELETE FROM events`); err == nil {
		t.Error("DELETE of an event succeeded")
	}
}

// A second Store on the same file stands in for another process: its appends do not
// signal this Store's subscribers, so only polling can deliver them.
func TestSubscribeSeesAppendsFromAnotherProcessByPolling(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	open := func() *sqlite.DB {
		db, err := sqlite.Open(ctx, path, migrations.EventStore)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	reader := pollEvery(sqlite.NewStore(open()), 20*time.Millisecond)
	writer := sqlite.NewStore(open())

	events := newEvents(3)
	got := make(chan []event.Recorded, 10)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- reader.Subscribe(subCtx, event.Start, func(_ context.Context, batch []event.Recorded) error {
			got <- batch
			return nil
		})
	}()
	if _, err := writer.Append(ctx, "a", event.NoStream, events); err != nil {
		t.Fatal(err)
	}
	var seen []event.Recorded
	for len(seen) < len(events) {
		select {
		case batch := <-got:
			seen = append(seen, batch...)
		case <-time.After(20 * time.Second):
			t.Fatalf("saw %d of %d events from the other writer", len(seen), len(events))
		}
	}
	for i, e := range seen {
		if e.ID != events[i].ID {
			t.Fatalf("event %d: got %s, want %s", i, e.ID, events[i].ID)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v, want context.Canceled", err)
	}
}

// Two processes appending to one file at once must still get one winner per version
// and gap-free positions: BEGIN IMMEDIATE serialises them through SQLite's lock.
func TestTwoProcessesAppendingToOneFileStayConsistent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	var stores []*sqlite.Store
	for range 2 {
		db, err := sqlite.Open(ctx, path, migrations.EventStore)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, sqlite.NewStore(db))
	}
	const perStore = 50
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			for range perStore {
				for {
					events, err := s.ReadStream(ctx, "shared", 0, 1000)
					if err != nil {
						t.Error(err)
						return
					}
					_, err = s.Append(ctx, "shared", int64(len(events))-1, newEvents(1))
					if err == nil {
						break
					}
					if !errors.Is(err, event.ErrWrongExpectedVersion) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	all, err := stores[0].ReadAll(ctx, event.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2*perStore {
		t.Fatalf("got %d events, want %d", len(all), 2*perStore)
	}
	for i, e := range all {
		if e.Version != int64(i) {
			t.Fatalf("event %d has version %d", i, e.Version)
		}
	}
}

// pollEvery sets how often st's caught-up subscriptions read anyway.
func pollEvery(st *sqlite.Store, d time.Duration) *sqlite.Store {
	st.PollInterval = d
	return st
}
