package postgres_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/internal/await"
)

// receive waits for a value on ch, or fails the test.
func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing received in 10s", what)
	}
}

// quiet fails the test if ch receives a value within a short while.
func quiet(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: received a value, want none", what)
	case <-time.After(200 * time.Millisecond):
	}
}

// closed waits for ch to be closed, skipping a value still pending, or fails the test.
func closed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("%s: not closed within 5s", what)
		}
	}
}

func TestListenHearsNotifyFromAnotherInstance(t *testing.T) {
	dbURL := newDatabase(t, 4)
	listening, notifying := openDB(t, dbURL), openDB(t, dbURL)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := listening.Listen(ctx, "user_feed")
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch, "the value that says the LISTEN is in place")
	for i := range 3 {
		if err := notifying.Notify(t.Context(), "user_feed"); err != nil {
			t.Fatal(err)
		}
		receive(t, ch, "notification "+string(rune('1'+i)))
	}
	cancel()
	closed(t, ch, "the channel after its context ended")
}

func TestListenersOfOneChannelDoNotHearAnother(t *testing.T) {
	db := openDB(t, newDatabase(t, 4))
	ctx := t.Context()
	feed, err := db.Listen(ctx, "feed")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Listen(ctx, "Jobs") // channel names are case-sensitive
	if err != nil {
		t.Fatal(err)
	}
	receive(t, feed, "feed ready")
	receive(t, jobs, "jobs ready")
	if err := db.Notify(ctx, "Jobs"); err != nil {
		t.Fatal(err)
	}
	receive(t, jobs, "jobs notification")
	quiet(t, feed, "feed after a notification on Jobs")
	if err := db.Notify(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	quiet(t, jobs, "Jobs after a notification on jobs")
}

func TestListenRecoversWhenItsConnectionIsKilled(t *testing.T) {
	dbURL := newDatabase(t, 4)
	var mu sync.Mutex
	var reported []error
	db := openDB(t, dbURL)
	db.OnBackgroundError = func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}
	ctx := t.Context()
	ch, err := db.Listen(ctx, "feed")
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch, "ready")

	admin := connect(t, dbURL)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening sessions, want 1", killed)
	}
	// Notifications sent while it was gone are lost: the reconnect itself wakes.
	receive(t, ch, "the wake-up after reconnecting")
	if err := db.Notify(ctx, "feed"); err != nil {
		t.Fatal(err)
	}
	receive(t, ch, "a notification after reconnecting")
	mu.Lock()
	defer mu.Unlock()
	if len(reported) == 0 {
		t.Fatal("the lost connection was not reported")
	}
}

func TestListenRejectsChannelNamesPostgresWouldAlter(t *testing.T) {
	db := openDB(t, newDatabase(t, 4))
	for _, name := range []string{"", strings.Repeat("x", 64), "a\x00b"} {
		if _, err := db.Listen(t.Context(), name); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("Listen(%q): got %v, want EINVALID", name, err)
		}
		if err := db.Notify(t.Context(), name); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("Notify(%q): got %v, want EINVALID", name, err)
		}
	}
}

func TestListenAfterCloseFails(t *testing.T) {
	db, err := postgres.OpenDB(t.Context(), newDatabase(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := db.Listen(t.Context(), "feed")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	closed(t, ch, "the channel after Close")
	if _, err := db.Listen(t.Context(), "feed"); err == nil {
		t.Fatal("Listen on a closed DB succeeded")
	}
}

// With a poll interval far beyond the test's patience, only NOTIFY can deliver
// another instance's appends.
func TestSubscribersHearOtherInstancesAppendsThroughNotify(t *testing.T) {
	dbURL := newDatabase(t, 4)
	reader := openStore(t, dbURL)
	reader.PollInterval = time.Hour
	writer := openStore(t, dbURL)
	ctx := t.Context()
	from, err := writer.Append(ctx, "fence", event.NoStream, newEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, reader, from.Position)
	time.Sleep(100 * time.Millisecond) // the subscriber is caught up and waiting
	events := newEvents(5)
	for i, e := range events {
		if _, err := writer.Append(ctx, "s", int64(i)-1, []event.Data{e}); err != nil {
			t.Fatal(err)
		}
		await.Until(t, 10*time.Second, "the other instance's append", func() bool { return len(sub.got()) == i+1 })
	}
	if got := recordedIDs(sub.got()); !slices.Equal(got, ids(events)) {
		t.Fatalf("subscriber got %v, want %v", got, ids(events))
	}
}
