package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/projections/jobs"
)

func getJob(t *testing.T, d *testDB, scanID string, attempt int) *jobs.Job {
	t.Helper()
	j, err := jobs.Get(context.Background(), d.read, scanID, attempt)
	if err != nil {
		t.Fatalf("get job: %v", err)
	}
	return j
}

func TestJobs_ProcessingStartedQueuesAJobThatItsAttemptsResultSettles(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.create(domain.NewID(), "", "")
		up := h.upload("", 1)
		h.start(1)
		startedAt := ms(h.at)
		w.catchUp(d, jobs.NewProjector())

		j := getJob(t, d, h.ScanID, 1)
		want := &jobs.Job{ScanID: h.ScanID, Attempt: 1, State: jobs.Pending, CreatedAt: startedAt, UpdatedAt: startedAt}
		if *j != *want {
			t.Errorf("job = %+v, want %+v", j, want)
		}

		h.fail(1, "agents_unreachable", "timeout", true) // and attempt 2 starts
		w.catchUp(d, jobs.NewProjector())
		if s1, s2 := getJob(t, d, h.ScanID, 1).State, getJob(t, d, h.ScanID, 2).State; s1 != jobs.Done || s2 != jobs.Pending {
			t.Errorf("after a retried failure: attempt 1 %s, attempt 2 %s; want done, pending", s1, s2)
		}
		h.complete(2, up)
		w.catchUp(d, jobs.NewProjector())
		if s := getJob(t, d, h.ScanID, 2).State; s != jobs.Done {
			t.Errorf("after Completed: %s, want done", s)
		}
		if j, err := jobs.Claim(context.Background(), d.db, "w1", time.Minute, w.now); j != nil || err != nil {
			t.Errorf("Claim with nothing pending = %+v, %v; want nil, nil", j, err)
		}
	})
}

func TestJobs_DeletedCancelsThePendingJob(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.running(domain.NewID())
		w.catchUp(d, jobs.NewProjector())
		h.delete()
		w.catchUp(d, jobs.NewProjector())
		if s := getJob(t, d, h.ScanID, 1).State; s != jobs.Cancelled {
			t.Errorf("state = %s, want cancelled", s)
		}
	})
}

func TestJobs_ClaimLeasesTheOldestPendingJobAndExpiredLeasesCanBeTakenOver(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		older := w.running(domain.NewID())
		newer := w.running(domain.NewID())
		w.catchUp(d, jobs.NewProjector())
		now := w.now.Add(time.Minute)
		lease := 30 * time.Second

		a, err := jobs.Claim(ctx, d.db, "worker-a", lease, now)
		if err != nil || a == nil || a.ScanID != older.ScanID || a.Claims != 1 || a.LeaseOwner != "worker-a" ||
			!a.LeaseExpiresAt.Equal(now.Add(lease)) {
			t.Fatalf("first Claim = %+v, %v; want the older job leased to worker-a once", a, err)
		}
		b, err := jobs.Claim(ctx, d.db, "worker-b", lease, now)
		if err != nil || b == nil || b.ScanID != newer.ScanID {
			t.Fatalf("second Claim = %+v, %v; want the newer job (the older one is leased)", b, err)
		}
		if c, err := jobs.Claim(ctx, d.db, "worker-c", lease, now.Add(lease-time.Millisecond)); c != nil || err != nil {
			t.Fatalf("Claim while both leases live = %+v, %v; want nil", c, err)
		}

		// worker-a keeps its job alive; worker-b goes silent.
		if err := jobs.Extend(ctx, d.db, a, "worker-a", lease, now.Add(20*time.Second)); err != nil {
			t.Fatalf("Extend live lease: %v", err)
		}
		later := now.Add(lease)
		c, err := jobs.Claim(ctx, d.db, "worker-c", lease, later)
		if err != nil || c == nil || c.ScanID != newer.ScanID || c.Claims != 2 || c.LeaseOwner != "worker-c" {
			t.Fatalf("Claim after worker-b's lease expired = %+v, %v; want its job, claimed twice", c, err)
		}
		if err := jobs.Extend(ctx, d.db, b, "worker-b", lease, later); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("Extend by the previous owner = %v, want ErrLeaseLost", err)
		}
		if err := jobs.Release(ctx, d.db, b, "worker-b", later); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("Release by the previous owner = %v, want ErrLeaseLost", err)
		}
		if err := jobs.Extend(ctx, d.db, a, "worker-a", lease, now.Add(20*time.Second+lease)); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("Extend at the expiry instant = %v, want ErrLeaseLost", err)
		}

		// A released job can be claimed at once.
		if err := jobs.Release(ctx, d.db, c, "worker-c", later); err != nil {
			t.Fatalf("Release: %v", err)
		}
		j := getJob(t, d, newer.ScanID, 1)
		if j.LeaseOwner != "" || !j.LeaseExpiresAt.IsZero() || j.Claims != 2 {
			t.Errorf("released job = %+v, want no lease and 2 claims", j)
		}
		if again, err := jobs.Claim(ctx, d.db, "worker-d", lease, later); err != nil || again == nil || again.ScanID != newer.ScanID || again.Claims != 3 {
			t.Errorf("Claim after Release = %+v, %v; want it, claimed 3 times", again, err)
		}
	})
}

func TestJobs_ExtendFailsOnceTheScanIsDeleted(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		h := w.running(domain.NewID())
		w.catchUp(d, jobs.NewProjector())
		j, err := jobs.Claim(ctx, d.db, "w", time.Minute, w.now)
		if err != nil || j == nil {
			t.Fatalf("Claim = %v, %v", j, err)
		}
		h.delete()
		w.catchUp(d, jobs.NewProjector())
		if err := jobs.Extend(ctx, d.db, j, "w", time.Minute, w.now); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("Extend on a cancelled job = %v, want ErrLeaseLost", err)
		}
	})
}

func TestJobs_ConcurrentClaimersNeverGetTheSameJob(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		const n = 60
		for i := 0; i < n; i++ {
			w.running(domain.NewID())
		}
		w.catchUp(d, jobs.NewProjector())
		now := w.now

		// Each claimer has its own handle: separate pools on Postgres, separate
		// connections to the file on SQLite.
		const claimers = 6
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		errs := make(chan error, claimers)
		for c := 0; c < claimers; c++ {
			db := d.connect(t)
			owner := fmt.Sprintf("worker-%d", c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					j, err := jobs.Claim(ctx, db, owner, time.Hour, now)
					if err != nil {
						errs <- err
						return
					}
					if j == nil {
						return
					}
					mu.Lock()
					if prev, dup := seen[j.ScanID]; dup {
						errs <- fmt.Errorf("job %s claimed by %s and %s", j.ScanID, prev, owner)
					}
					seen[j.ScanID] = owner
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(seen) != n {
			t.Errorf("%d jobs claimed, want %d", len(seen), n)
		}
		if got := count(t, d, "SELECT count(*) FROM scan_jobs WHERE claims <> 1"); got != 0 {
			t.Errorf("%d jobs claimed more than once", got)
		}
	})
}

// A job handed back is free at once and its claim is taken back, so its next claimer
// starts it afresh; Expire frees, at once, the jobs a crashed owner still holds, claims
// kept, and leaves other owners' leases alone.
func TestJobs_HandBackAndExpireFreeLeasesAtOnce(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		a := w.running(domain.NewID())
		b := w.running(domain.NewID()) // its job is the newer
		w.catchUp(d, jobs.NewProjector())
		now, lease := w.now.Add(time.Minute), time.Hour

		ja, err := jobs.Claim(ctx, d.db, "crashed", lease, now)
		if err != nil || ja == nil || ja.ScanID != a.ScanID {
			t.Fatalf("Claim = %+v, %v", ja, err)
		}
		jb, err := jobs.Claim(ctx, d.db, "alive", lease, now)
		if err != nil || jb == nil || jb.ScanID != b.ScanID {
			t.Fatalf("Claim = %+v, %v", jb, err)
		}
		if err := jobs.HandBack(ctx, d.db, jb, "someone-else", now); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("HandBack by a non-owner = %v, want ErrLeaseLost", err)
		}
		if err := jobs.HandBack(ctx, d.db, jb, "alive", now); err != nil {
			t.Fatalf("HandBack: %v", err)
		}
		again, err := jobs.Claim(ctx, d.db, "next", lease, now)
		if err != nil || again == nil || again.ScanID != b.ScanID || again.Claims != 1 {
			t.Fatalf("claim after a hand-back = %+v, %v; want %s with 1 claim", again, err, b.ScanID)
		}

		if n, err := jobs.Expire(ctx, d.db, "crashed", now); err != nil || n != 1 {
			t.Fatalf("Expire = %d, %v; want 1", n, err)
		}
		taken, err := jobs.Claim(ctx, d.db, "restarted", lease, now)
		if err != nil || taken == nil || taken.ScanID != a.ScanID || taken.Claims != 2 {
			t.Fatalf("claim after Expire = %+v, %v; want %s with 2 claims", taken, err, a.ScanID)
		}
		if n, err := jobs.Expire(ctx, d.db, "crashed", now); err != nil || n != 0 {
			t.Errorf("Expire of an owner holding nothing = %d, %v; want 0", n, err)
		}
		if j := getJob(t, d, b.ScanID, 1); j.LeaseOwner != "next" {
			t.Errorf("another owner's lease was touched: %+v", j)
		}
	})
}
