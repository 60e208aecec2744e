// Package backoff is the one pause policy for retrying against a store that went
// away: pauses double from a first value up to a cap, and are spread with jitter so
// that the many clients of one failed database do not all retry in lockstep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy doubles a pause from First up to Max.
type Policy struct {
	First, Max time.Duration
}

// Next is the pause after prev (zero before the first retry): twice prev, at least
// First, at most Max.
func (p Policy) Next(prev time.Duration) time.Duration {
	return min(max(2*prev, p.First), p.Max)
}

// Jitter picks a pause in [d/2, d] ("equal jitter"): never much shorter than asked,
// yet spread.
func Jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or returns ctx.Err() as soon as ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
