package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

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
