package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/eventstoretest"
	"github.com/scanledger/scanledger/internal/await"
)

func TestStoreConformance(t *testing.T) {
	s := openStore(t, newDatabase(t, 16))
	eventstoretest.Run(t, func(t *testing.T) event.Store { return s })
}

// twoInstances appends through one Store and reads through another with its own
// pool, as two processes sharing a database do: the reader's subscribers hear of the
// writer's appends only through NOTIFY and polling.
type twoInstances struct {
	writer, reader *postgres.Store
}

func (s twoInstances) Append(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, error) {
	return s.writer.Append(ctx, stream, expected, events)
}

func (s twoInstances) ReadStream(ctx context.Context, stream string, from int64, max int) ([]event.Recorded, error) {
	return s.reader.ReadStream(ctx, stream, from, max)
}

func (s twoInstances) ReadAll(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	return s.reader.ReadAll(ctx, after, max)
}

func (s twoInstances) Subscribe(ctx context.Context, after event.Cursor, h event.Handler) error {
	return s.reader.Subscribe(ctx, after, h)
}

func TestStoreConformanceAcrossInstances(t *testing.T) {
	dbURL := newDatabase(t, 8)
	s := twoInstances{writer: openStore(t, dbURL), reader: openStore(t, dbURL)}
	eventstoretest.Run(t, func(t *testing.T) event.Store { return s })
}

// collector gathers what a subscription delivers.
type collector struct {
	mu     sync.Mutex
	events []event.Recorded
}

func (c *collector) handle(_ context.Context, batch []event.Recorded) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, batch...)
	return nil
}

func (c *collector) got() []event.Recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Recorded(nil), c.events...)
}

// subscribe runs s.Subscribe after the cursor until the test ends, and fails the test
// if it stops for any other reason than the end of the test.
func subscribe(t *testing.T, s *postgres.Store, after event.Cursor) *collector {
	t.Helper()
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, after, c.handle) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Subscribe returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Subscribe did not return within 10s of its cancellation")
		}
	})
	return c
}

// The bug this store exists to avoid: positions come from a sequence, so an append
// that took its positions first can commit last, and a reader that trusted
// "position > last seen" would already have moved past them.
func TestAnAppendThatCommitsLateIsNeitherSkippedNorOvertaken(t *testing.T) {
	ctx := t.Context()
	dbURL := newDatabase(t, 8)
	s := openStore(t, dbURL)
	s.PollInterval = 10 * time.Millisecond
	holding, release := make(chan struct{}), make(chan struct{})
	postgres.SetBeforeCommit(s, func(ctx context.Context, stream string) error {
		if stream == "held" {
			close(holding)
			select {
			case <-release:
			case <-ctx.Done(): // the test failed: do not keep a connection forever
			}
		}
		return ctx.Err()
	})
	from, err := s.Append(ctx, "fence", event.NoStream, newEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, s, from.Position)

	held, later1, later2 := newEvents(2), newEvents(1), newEvents(3)
	heldDone := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "held", event.NoStream, held)
		heldDone <- err
	}()
	<-holding // held's rows are written, its transaction is open
	if _, err := s.Append(ctx, "later-1", event.NoStream, later1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "later-2", event.NoStream, later2); err != nil {
		t.Fatal(err)
	}

	// Committed, but behind the open transaction: not readable yet.
	readable, err := s.ReadAll(ctx, from.Position, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(readable) != 0 {
		t.Fatalf("ReadAll returned %v while an earlier append was still open; want nothing yet", recordedIDs(readable))
	}
	// The subscription was woken by both commits and polls every 10ms: give it time
	// to make the mistake it must not make.
	time.Sleep(300 * time.Millisecond)
	if got := sub.got(); len(got) != 0 {
		t.Fatalf("subscriber got %v while an earlier append was still open; want nothing yet", recordedIDs(got))
	}

	close(release)
	if err := <-heldDone; err != nil {
		t.Fatalf("held append: %v", err)
	}
	// The scenario is real: the held append took lower positions, committed last.
	conn := connect(t, dbURL)
	var heldMax, laterMin int64
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT max(position) FROM events WHERE stream_id = 'held'),
		(SELECT min(position) FROM events WHERE stream_id LIKE 'later-%')`).Scan(&heldMax, &laterMin); err != nil {
		t.Fatal(err)
	}
	if heldMax >= laterMin {
		t.Fatalf("held append has positions up to %d, later ones from %d: the test did not hold the earlier positions", heldMax, laterMin)
	}

	want := append(append(ids(held), ids(later1)...), ids(later2)...)
	if got := recordedIDs(readAll(t, s, from.Position)); !slices.Equal(got, want) {
		t.Fatalf("ReadAll after the commit = %v, want %v", got, want)
	}
	await.Until(t, 10*time.Second, "the subscriber to get every event", func() bool { return len(sub.got()) >= len(want) })
	time.Sleep(50 * time.Millisecond) // a duplicate would arrive about now
	if got := recordedIDs(sub.got()); !slices.Equal(got, want) {
		t.Fatalf("subscriber got %v, want each event once: %v", got, want)
	}
}

func TestConcurrentWritersLoseAndRepeatNothingForASubscriber(t *testing.T) {
	const writers, appendsPerWriter = 32, 40
	ctx := t.Context()
	s := openStore(t, newDatabase(t, writers+4))
	from, err := s.Append(ctx, "fence", event.NoStream, newEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, s, from.Position)

	var appended atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			version := event.NoStream
			for i := range appendsPerWriter {
				events := newEvents(1 + (w+i)%3)
				var err error
				if i%4 == 3 {
					// A shared stream: appends to it queue on its row lock.
					_, err = s.Append(ctx, "shared", event.Any, events)
				} else {
					var res event.AppendResult
					res, err = s.Append(ctx, fmt.Sprintf("writer-%d", w), version, events)
					version = res.Version
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				appended.Add(int64(len(events)))
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	total := int(appended.Load())
	want := readAll(t, s, from.Position)
	if len(want) != total {
		t.Fatalf("ReadAll has %d events, %d were appended", len(want), total)
	}
	await.Until(t, 20*time.Second, fmt.Sprintf("the subscriber to get %d events", total), func() bool { return len(sub.got()) >= total })
	time.Sleep(50 * time.Millisecond)
	got := sub.got()
	if len(got) != total {
		t.Fatalf("subscriber got %d events, %d were appended", len(got), total)
	}
	next := map[string]int64{}
	for i, e := range got {
		if e.ID != want[i].ID {
			t.Fatalf("subscriber event %d is %s, ReadAll's is %s", i, e.ID, want[i].ID)
		}
		if e.Version != next[e.StreamID] {
			t.Fatalf("stream %s: version %d delivered after %d", e.StreamID, e.Version, next[e.StreamID]-1)
		}
		next[e.StreamID]++
	}
}

// Appends to different streams lock different rows only, so one open append cannot
// hold up writers elsewhere, while a second writer to its stream waits its turn.
func TestAnOpenAppendHoldsUpItsOwnStreamOnly(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, newDatabase(t, 8))
	holding, release := make(chan struct{}), make(chan struct{})
	postgres.SetBeforeCommit(s, func(ctx context.Context, stream string) error {
		if stream == "busy" {
			select {
			case <-holding:
			default:
				close(holding)
				select {
				case <-release:
				case <-ctx.Done(): // the test failed: do not keep a connection forever
				}
			}
		}
		return ctx.Err()
	})
	heldDone := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "busy", event.NoStream, newEvents(1))
		heldDone <- err
	}()
	<-holding
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	for i := range 5 {
		if _, err := s.Append(ctx, fmt.Sprintf("elsewhere-%d", i), event.NoStream, newEvents(1)); err != nil {
			t.Fatalf("append to another stream while one is held: %v", err)
		}
	}

	queued := make(chan event.AppendResult, 1)
	go func() {
		res, err := s.Append(ctx, "busy", event.Any, newEvents(1))
		if err != nil {
			t.Errorf("queued append: %v", err)
		}
		queued <- res
	}()
	select {
	case <-queued:
		t.Fatal("a second append to the held stream finished before the first committed")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-heldDone; err != nil {
		t.Fatalf("held append: %v", err)
	}
	if res := <-queued; res.Version != 1 {
		t.Fatalf("queued append landed at version %d, want 1 (after the held one)", res.Version)
	}
}

func TestMalformedCursorsAreInvalid(t *testing.T) {
	eventstoretest.MalformedCursorsAreInvalid(t, openStore(t, newDatabase(t, 4)), []event.Cursor{
		"x", "5", "1:", ":1", "1:2:3", "01:2", "1:02", "-1:2", "1:-2", "+1:2", " 1:2", "1 :2",
		"99999999999999999999:1", "1:99999999999999999999"}, "0:0")
}

func TestAppendsTheDatabaseCannotStoreExactlyAreInvalid(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, newDatabase(t, 4))
	with := func(change func(*event.Data)) []event.Data {
		events := newEvents(1)
		change(&events[0])
		return events
	}
	cases := []struct {
		name   string
		stream string
		events []event.Data
	}{
		{"an id that is not a UUID", "s", with(func(e *event.Data) { e.ID = "not-a-uuid" })},
		{"an upper-case UUID, which would read back lower-case", "s", with(func(e *event.Data) { e.ID = strings.ToUpper(e.ID) })},
		{"a stream name with NUL", "s\x00", newEvents(1)},
		{"a stream name that is not UTF-8", "s\xff", newEvents(1)},
		{"a type with NUL", "s", with(func(e *event.Data) { e.Type = "T\x00" })},
		{"a schema version beyond int4", "s", with(func(e *event.Data) { e.SchemaVersion = 1 << 31 })},
	}
	for _, c := range cases {
		_, err := s.Append(ctx, c.stream, event.NoStream, c.events)
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("%s: got %v, want an EINVALID error", c.name, err)
		}
	}
	if got := readAll(t, s, event.Start); len(got) != 0 {
		t.Fatalf("rejected appends wrote %d events", len(got))
	}
}

func TestStoredEventsCannotBeUpdatedDeletedOrTruncated(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, newDatabase(t, 4))
	if _, err := s.Append(ctx, "a", event.NoStream, newEvents(1)); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE events SET data = '{"forged":true}'`,
		`DELETE FROM events`,
		`TRUNCATE events`,
	} {
		if _, err := s.DB().Pool().Exec(ctx, stmt); err == nil {
			t.Errorf("%s succeeded", stmt)
		}
	}
	if got := readAll(t, s, event.Start); len(got) != 1 {
		t.Fatalf("%d events left, want 1", len(got))
	}
}

// Catch-up speed depends on ReadAll walking the (xid, position) index from the cursor
// instead of sorting whatever lies after it.
func TestReadAllWalksTheXidPositionIndex(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, newDatabase(t, 4))
	for i := range 50 {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i), event.NoStream, newEvents(100)); err != nil {
			t.Fatal(err)
		}
	}
	pool := s.DB().Pool()
	if _, err := pool.Exec(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `EXPLAIN `+postgres.ReadAllSQL, uint64(0), int64(0), 256)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "Index Scan using events_xid_position") || strings.Contains(text, "Sort") {
		t.Fatalf("ReadAll's plan does not walk the (xid, position) index:\n%s", text)
	}
}

func TestOpeningAnUnreachableServerIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("got %v, want an EUNAVAILABLE error", err)
	}
}

// holdTransaction opens a transaction on conn that has a transaction id (as any
// writing transaction does) and keeps it open until the test ends or the returned
// function is called.
func holdTransaction(t *testing.T, conn *pgx.Conn) (end func()) {
	t.Helper()
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end = func() { once.Do(func() { _ = tx.Rollback(context.Background()) }) }
	t.Cleanup(end)
	return end
}

// Snapshots count transactions of every database on the server, but only this
// database's can add events: an idle transaction elsewhere must not stall readers.
func TestAnOpenTransactionInAnotherDatabaseDoesNotHoldReadersBack(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, newDatabase(t, 4))
	holdTransaction(t, connect(t, newDatabase(t, 2)))

	events := newEvents(3)
	if _, err := s.Append(ctx, "s", event.NoStream, events); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := readAll(t, s, event.Start)
	if !slices.Equal(recordedIDs(got), ids(events)) {
		t.Fatalf("ReadAll = %v, want %v", recordedIDs(got), ids(events))
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("ReadAll took %v: it waited for another database's transaction", waited)
	}
}

// A transaction of this database could still append events that sort first, so
// events committed after it began wait for it: delivered late, never out of order.
func TestAnOpenTransactionInTheSameDatabaseHoldsLaterEventsBack(t *testing.T) {
	ctx := t.Context()
	dbURL := newDatabase(t, 4)
	s := openStore(t, dbURL)
	s.PollInterval = 10 * time.Millisecond
	from, err := s.Append(ctx, "fence", event.NoStream, newEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, s, from.Position)
	end := holdTransaction(t, connect(t, dbURL))
	events := newEvents(2)
	if _, err := s.Append(ctx, "s", event.NoStream, events); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadAll(ctx, from.Position, 10); err != nil || len(got) != 0 {
		t.Fatalf("ReadAll behind an open transaction = %v, %v; want nothing yet", recordedIDs(got), err)
	}
	end()
	await.Until(t, 10*time.Second, "the events after the transaction ended", func() bool { return len(sub.got()) == len(events) })
	if got := recordedIDs(sub.got()); !slices.Equal(got, ids(events)) {
		t.Fatalf("subscriber got %v, want %v", got, ids(events))
	}
}
