package worker

import "sync/atomic"

// Stats are a worker's counters since it was created, for operators' dashboards.
type Stats struct {
	// Claimed counts jobs claimed; Running those under way now.
	Claimed uint64
	Running int64
	// Outcomes of the attempts this worker ran: Completed and Failed (final) and
	// Retried (failed, next attempt started) were stored; TakenOver counts abandoned
	// attempts of a lost worker it recorded as failed; HandedBack those a shutdown
	// gave back unfinished.
	Completed, Retried, Failed, TakenOver, HandedBack uint64
	// LeaseRenewals counts leases extended; LeasesLost the jobs stopped because
	// their lease was lost or ran out.
	LeaseRenewals, LeasesLost uint64
}

// counters are the atomic form of Stats, kept by the worker as it runs.
type counters struct {
	claimed, completed, retried, failed, takenOver, handedBack, renewals, lost atomic.Uint64
	running                                                                    atomic.Int64
}

// Stats returns a snapshot of the counters.
func (w *Worker) Stats() Stats {
	c := &w.counters
	return Stats{
		Claimed: c.claimed.Load(), Running: c.running.Load(),
		Completed: c.completed.Load(), Retried: c.retried.Load(), Failed: c.failed.Load(),
		TakenOver: c.takenOver.Load(), HandedBack: c.handedBack.Load(),
		LeaseRenewals: c.renewals.Load(), LeasesLost: c.lost.Load(),
	}
}
