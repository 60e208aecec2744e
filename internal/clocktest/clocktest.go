// Package clocktest gives tests a clock that moves only when they move it.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a settable time source. The code under test reads it from its own
// goroutines while the test advances it, so every access holds the lock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New is a Clock standing at start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now is the clock's time; pass the method where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
