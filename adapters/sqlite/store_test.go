package sqlite_test

import (
	"context"
	"errors"
	"fmt"
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

// atOnce runs f(0) ... f(n-1) on n goroutines released together and waits for them.
func atOnce(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}

// Appends that arrive while a commit is in flight are committed together, one fsync
// for all of them, and each keeps its own expected-version check and its own answer:
// a stale writer in the group fails alone.
func TestConcurrentAppendsShareCommitsAndKeepTheirOwnAnswers(t *testing.T) {
	ctx := t.Context()
	s := sqlite.NewStore(openDB(t))
	const writers = 64
	for i := range writers {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i), event.NoStream, newEvents(1)); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Commits()

	errs := make([]error, writers)
	results := make([]event.AppendResult, writers)
	atOnce(writers, func(i int) {
		expected := int64(0) // right for even writers
		if i%2 == 1 {
			expected = event.NoStream // stale: the stream has an event
		}
		results[i], errs[i] = s.Append(ctx, fmt.Sprintf("s-%d", i), expected, newEvents(2))
	})

	for i, err := range errs {
		switch {
		case i%2 == 0 && err != nil:
			t.Errorf("writer %d: %v", i, err)
		case i%2 == 0 && results[i].Version != 2:
			t.Errorf("writer %d: version %d, want 2", i, results[i].Version)
		case i%2 == 1 && !errors.Is(err, event.ErrWrongExpectedVersion):
			t.Errorf("writer %d: got %v, want ErrWrongExpectedVersion", i, err)
		}
	}
	for i := range writers {
		recs, err := s.ReadStream(ctx, fmt.Sprintf("s-%d", i), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if i%2 == 0 {
			want = 3
		}
		if len(recs) != want {
			t.Errorf("stream s-%d holds %d events, want %d", i, len(recs), want)
		}
	}
	if commits := s.Commits() - before; commits >= writers/2 {
		t.Errorf("%d successful concurrent appends took %d commits: none shared one", writers/2, commits)
	}
}

// An append whose event ID another append already stored fails with a conflict, and
// the appends committed beside it are unaffected.
func TestADuplicateIDFailsOnlyItsOwnAppendInAGroup(t *testing.T) {
	ctx := t.Context()
	s := sqlite.NewStore(openDB(t))
	taken := newEvents(1)
	if _, err := s.Append(ctx, "taken", event.NoStream, taken); err != nil {
		t.Fatal(err)
	}
	const writers = 32
	errs := make([]error, writers)
	atOnce(writers, func(i int) {
		events := newEvents(2)
		if i == writers/2 {
			events[1].ID = taken[0].ID // a later event's ID is stored already
		}
		_, errs[i] = s.Append(ctx, fmt.Sprintf("d-%d", i), event.NoStream, events)
	})
	for i, err := range errs {
		if i == writers/2 {
			if domain.ErrorCode(err) != domain.ECONFLICT {
				t.Errorf("writer %d: got %v, want a conflict", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	all, err := s.ReadAll(ctx, event.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 2*(writers-1); len(all) != want {
		t.Fatalf("store holds %d events, want %d", len(all), want)
	}
}

// The read pool keeps the connections it opened: closing one after a burst of reads
// would throw away its prepared statements, and opening and preparing again cost a
// tenth of the live pipeline's CPU.
func TestReadPoolKeepsItsConnectionsBetweenBursts(t *testing.T) {
	ctx := t.Context()
	db, s := storeWithOneEvent(t, "r")
	for range 3 {
		var wg sync.WaitGroup
		var held sync.WaitGroup
		held.Add(8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Hold a connection until all eight are open, so the burst needs them all.
				conn, err := db.Read.Conn(ctx)
				if err != nil {
					t.Error(err)
					held.Done()
					return
				}
				held.Done()
				held.Wait()
				conn.Close()
				if _, err := s.ReadStream(ctx, "r", 0, 10); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if st := db.Read.Stats(); st.MaxIdleClosed > 0 || st.OpenConnections != 8 {
		t.Fatalf("read pool: %d open, %d closed as surplus idle; want 8 kept open", st.OpenConnections, st.MaxIdleClosed)
	}
}

// An append queued behind a commit that waits for the write connection gives up when
// its caller does: it returns the context's error at once and writes nothing, while
// an append without a deadline still commits once the connection is free.
func TestQueuedAppendsLeaveWhenTheirContextEnds(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	s := sqlite.NewStore(db)
	hold, err := db.Write.BeginTx(ctx, nil) // the single write connection, held
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			_ = hold.Rollback()
		}
	}()

	patient := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "patient", event.NoStream, newEvents(1))
		patient <- err
	}()
	time.Sleep(10 * time.Millisecond) // lets the patient append lead; not needed for correctness

	const hasty = 8
	errs := make(chan error, hasty)
	for i := range hasty {
		go func() {
			dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			_, err := s.Append(dctx, fmt.Sprintf("hasty-%d", i), event.NoStream, newEvents(1))
			errs <- err
		}()
	}
	guard := time.After(30 * time.Second)
	for range hasty {
		select {
		case err := <-errs:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("append with an expired deadline = %v, want context.DeadlineExceeded", err)
			}
		case <-guard:
			t.Fatal("appends whose deadline passed are still waiting for the held connection")
		}
	}

	released = true
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-patient; err != nil {
		t.Fatalf("append without deadline: %v", err)
	}
	for i := range hasty {
		recs, err := s.ReadStream(ctx, fmt.Sprintf("hasty-%d", i), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 0 {
			t.Errorf("stream hasty-%d holds %d events of an append that gave up", i, len(recs))
		}
	}
}
