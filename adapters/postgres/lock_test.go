package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scanledger/scanledger/internal/await"
	"github.com/scanledger/scanledger/projections"
)

// lockResult is what a LockFunc returned.
type lockResult struct {
	held    context.Context
	release func()
	err     error
}

// lockAsync calls lock in a goroutine; the result arrives on the channel.
func lockAsync(ctx context.Context, lock projections.LockFunc) <-chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		held, release, err := lock(ctx)
		ch <- lockResult{held, release, err}
	}()
	return ch
}

// acquired waits for a lock attempt to succeed, or fails the test.
func acquired(t *testing.T, ch <-chan lockResult, within time.Duration, what string) lockResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		t.Cleanup(r.release)
		return r
	case <-time.After(within):
		t.Fatalf("%s: not acquired within %v", what, within)
		return lockResult{}
	}
}

// stillWaiting fails the test if the lock attempt finishes within a short while.
func stillWaiting(t *testing.T, ch <-chan lockResult, what string) {
	t.Helper()
	select {
	case r := <-ch:
		if r.release != nil {
			r.release()
		}
		t.Fatalf("%s: finished (err %v) while another instance holds the lock", what, r.err)
	case <-time.After(300 * time.Millisecond):
	}
}

// contended has a first instance acquire the named projection lock and a second one,
// on the same fresh database, wait for it.
func contended(t *testing.T, name string) (dbURL string, first lockResult, waiting <-chan lockResult) {
	t.Helper()
	dbURL = newDatabase(t, 4)
	a, b := openDB(t, dbURL), openDB(t, dbURL)
	first = acquired(t, lockAsync(t.Context(), a.ProjectionLock(name)), 10*time.Second, "first instance")
	waiting = lockAsync(t.Context(), b.ProjectionLock(name))
	stillWaiting(t, waiting, "second instance")
	return dbURL, first, waiting
}

// holderPID finds the session holding the test database's only advisory lock.
func holderPID(t *testing.T, admin *pgx.Conn) int {
	t.Helper()
	var pid int
	err := admin.QueryRow(t.Context(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&pid)
	if err != nil {
		t.Fatalf("find the advisory lock holder: %v", err)
	}
	return pid
}

func TestProjectionLockPassesToTheNextInstanceWhenTheHoldersConnectionDies(t *testing.T) {
	dbURL, a, waiting := contended(t, "scans")
	ctx := t.Context()

	admin := connect(t, dbURL)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, holderPID(t, admin)); err != nil {
		t.Fatal(err)
	}
	b := acquired(t, waiting, 5*time.Second, "second instance after the first's connection died")
	select {
	case <-a.held.Done():
		if cause := context.Cause(a.held); !strings.Contains(cause.Error(), "lost") {
			t.Errorf("first instance's held context ended with %v, want a lost-lock cause", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first instance's held context still open 5s after its connection died")
	}
	if b.held.Err() != nil {
		t.Fatalf("second instance's held context ended: %v", context.Cause(b.held))
	}
}

func TestProjectionLockReleasePassesItOnAtOnce(t *testing.T) {
	_, a, waiting := contended(t, "feed")
	a.release()
	if a.held.Err() == nil {
		t.Error("held context still open after release")
	}
	acquired(t, waiting, 2*time.Second, "second instance after release")
}

func TestProjectionLocksOfDifferentProjectionsAreIndependent(t *testing.T) {
	dbURL := newDatabase(t, 4)
	first, second := openDB(t, dbURL), openDB(t, dbURL)
	ctx := t.Context()
	acquired(t, lockAsync(ctx, first.ProjectionLock("scans")), 10*time.Second, "scans")
	acquired(t, lockAsync(ctx, second.ProjectionLock("feed")), 10*time.Second, "feed, while scans is held")
}

// A waiter that gives up must leave the queue in the server too, or it would take the
// lock from the next instance in line once the holder lets go.
func TestProjectionLockWaitEndsWithItsContextAndLeavesNothingQueued(t *testing.T) {
	dbURL := newDatabase(t, 6)
	holder, quitter, next := openDB(t, dbURL), openDB(t, dbURL), openDB(t, dbURL)
	ctx := t.Context()
	a := acquired(t, lockAsync(ctx, holder.ProjectionLock("jobs")), 10*time.Second, "holder")

	quitCtx, quit := context.WithCancel(ctx)
	quitting := lockAsync(quitCtx, quitter.ProjectionLock("jobs"))
	stillWaiting(t, quitting, "quitter")
	quit()
	select {
	case r := <-quitting:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled wait returned %v, want context.Canceled", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled wait did not return within 5s")
	}

	admin := connect(t, dbURL)
	await.Until(t, 5*time.Second, "the server to drop the cancelled wait", func() bool {
		var queued int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		return queued == 0
	})

	waiting := lockAsync(ctx, next.ProjectionLock("jobs"))
	stillWaiting(t, waiting, "next")
	a.release()
	acquired(t, waiting, 2*time.Second, "next instance after release")
}

func TestProjectionLockHeldContextEndsWithTheCallersContext(t *testing.T) {
	db := openDB(t, newDatabase(t, 4))
	ctx, cancel := context.WithCancel(t.Context())
	a := acquired(t, lockAsync(ctx, db.ProjectionLock("scans")), 10*time.Second, "lock")
	cancel()
	select {
	case <-a.held.Done():
	case <-time.After(time.Second):
		t.Fatal("held context open after the caller's context ended")
	}
	a.release()
	// Freed: another taker gets it at once.
	acquired(t, lockAsync(t.Context(), db.ProjectionLock("scans")), 2*time.Second, "lock after release")
}
