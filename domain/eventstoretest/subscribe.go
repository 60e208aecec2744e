package eventstoretest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/event"
)

// collector gathers the events a subscriber was given, for the test to wait on.
type collector struct {
	f    *fixture
	done chan struct{} // closed when the subscriber's goroutine ends
	err  error         // Subscribe's last result, set before done is closed

	mu      sync.Mutex
	events  []event.Recorded // this test's events, in delivery order
	last    event.Cursor     // position of the last event delivered, anyone's
	batches int
	empty   bool // the handler got an empty batch
	seen    event.Notifier
}

func newCollector(f *fixture) *collector {
	return &collector{f: f, done: make(chan struct{})}
}

// collect records a batch; subscribers' handlers call it.
func (c *collector) collect(batch []event.Recorded) {
	c.mu.Lock()
	c.batches++
	if len(batch) == 0 {
		c.empty = true
	} else {
		c.last = batch[len(batch)-1].Position
	}
	for _, e := range batch {
		if c.f.mine(e) {
			c.events = append(c.events, e)
		}
	}
	c.mu.Unlock()
	c.seen.Notify()
}

// waitFor waits until the collected events satisfy cond and returns them. It fails
// the test if the subscriber ends first, or if it gets no batch at all for
// Options.Timeout: a guard against a hang that a slow machine does not trip.
func (c *collector) waitFor(what string, cond func([]event.Recorded) bool) []event.Recorded {
	t := c.f.t
	t.Helper()
	guard := time.NewTimer(c.f.opts.Timeout)
	defer guard.Stop()
	progress := -1
	for {
		wake := c.seen.Wait()
		c.mu.Lock()
		got := append([]event.Recorded(nil), c.events...)
		empty, batches := c.empty, c.batches
		c.mu.Unlock()
		if empty {
			t.Fatal("Subscribe called the handler with an empty batch")
		}
		if cond(got) {
			return got
		}
		if batches != progress {
			progress = batches
			guard.Reset(c.f.opts.Timeout)
		}
		select {
		case <-wake:
		case <-c.done:
			t.Fatalf("waiting for %s: Subscribe returned early: %v", what, c.err)
		case <-guard.C:
			t.Fatalf("waiting for %s: nothing delivered for %v; got %d events %v",
				what, c.f.opts.Timeout, len(got), recordedIDs(got))
		}
	}
}

// waitForID waits until the event with the given ID was delivered.
func (c *collector) waitForID(id string) []event.Recorded {
	c.f.t.Helper()
	return c.waitFor("event "+id, func(got []event.Recorded) bool {
		for _, e := range got {
			if e.ID == id {
				return true
			}
		}
		return false
	})
}

// wait waits for the subscriber to end on its own and returns Subscribe's error.
func (c *collector) wait() error {
	select {
	case <-c.done:
		return c.err
	case <-time.After(c.f.opts.Timeout):
		c.f.t.Errorf("Subscribe did not return within %v", c.f.opts.Timeout)
		return nil
	}
}

// collected returns the events delivered so far.
func (c *collector) collected() []event.Recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Recorded(nil), c.events...)
}

// lastPosition returns the position of the last event delivered.
func (c *collector) lastPosition() event.Cursor {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// subscription is one Subscribe call running in a goroutine.
type subscription struct {
	*collector
	cancel context.CancelFunc
}

// subscribe starts a subscription after the cursor. If h is not nil it runs after
// each batch was collected, and its error stops the subscription. The subscription is
// stopped when the test ends, if the test did not stop it.
func (f *fixture) subscribe(after event.Cursor, h event.Handler) *subscription {
	return f.subscribeCtx(f.ctx, after, h)
}

// subscribeCtx is subscribe under a context of the test's choosing.
func (f *fixture) subscribeCtx(ctx context.Context, after event.Cursor, h event.Handler) *subscription {
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{collector: newCollector(f), cancel: cancel}
	go func() {
		defer close(sub.done)
		sub.err = f.s.Subscribe(ctx, after, func(ctx context.Context, batch []event.Recorded) error {
			sub.collect(batch)
			if h != nil {
				return h(ctx, batch)
			}
			return nil
		})
	}()
	f.t.Cleanup(func() { sub.stop() })
	return sub
}

// stop cancels the subscription and returns Subscribe's error.
func (sub *subscription) stop() error {
	sub.cancel()
	return sub.wait()
}

// stopCancelled stops the subscription and checks that Subscribe returned
// context.Canceled.
func (sub *subscription) stopCancelled(t *testing.T) {
	t.Helper()
	if err := sub.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe after cancel returned %v, want context.Canceled", err)
	}
}

func (s suite) testSubscribe(t *testing.T) {
	t.Run("from Start delivers the stored events, then live ones, in order", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		stored := newEvents(5)
		f.append(stream, event.NoStream, stored)

		sub := f.subscribe(event.Start, nil)
		sub.waitForID(stored[4].ID)
		live1, live2 := newEvents(1), newEvents(3)
		f.append(stream, 4, live1)
		f.append(stream, 5, live2)
		got := sub.waitForID(live2[2].ID)
		checkIDs(t, "subscription", got, concat(stored, live1, live2))
		checkVersions(t, "subscription", got, 0)
		sub.stopCancelled(t)
	})

	t.Run("from a cursor in the middle delivers exactly the events after it", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		events := newEvents(10)
		f.append(stream, event.NoStream, events[:3])
		f.append(stream, 2, events[3:7])
		f.append(stream, 6, events[7:])
		all := f.readAllMine(event.Start, 1000)
		checkIDs(t, "ReadAll", all, dataIDs(events))

		for _, mid := range []int{0, 2, 3, 6, 9} {
			sub := f.subscribe(all[mid].Position, nil)
			marker := newEvents(1)
			f.append(f.stream("marker"), event.Any, marker)
			got := sub.waitForID(marker[0].ID)
			checkIDs(t, "subscription from the middle", f.without("marker", got), dataIDs(events[mid+1:]))
			sub.stopCancelled(t)
		}
	})

	t.Run("from the end delivers only new events", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		old := newEvents(3)
		res := f.append(stream, event.NoStream, old)

		sub := f.subscribe(res.Position, nil)
		fresh := newEvents(2)
		f.append(stream, 2, fresh)
		got := sub.waitForID(fresh[1].ID)
		checkIDs(t, "subscription from the end", got, dataIDs(fresh))
		checkVersions(t, "subscription from the end", got, 3)
	})

	t.Run("sees appends made while it waits, one by one", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		sub := f.subscribe(f.fence(), nil)
		var want []string
		for i := range 10 {
			events := newEvents(1)
			f.append(stream, int64(i)-1, events)
			want = append(want, events[0].ID)
			// Waiting for each event makes the subscriber idle before the next
			// append: this is the wake-up path, not catch-up.
			sub.waitForID(events[0].ID)
		}
		checkIDs(t, "live subscription", sub.collected(), want)
	})

	t.Run("stops with the handler's error", func(t *testing.T) {
		f := s.setup(t)
		from := f.fence()
		f.append(f.stream("s"), event.NoStream, newEvents(3))
		errStop := errors.New("handler says stop")
		var calls atomic.Int32
		sub := f.subscribe(from, func(context.Context, []event.Recorded) error {
			calls.Add(1)
			return errStop
		})
		if err := sub.wait(); !errors.Is(err, errStop) {
			t.Fatalf("Subscribe returned %v, want the handler's error", err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("handler called %d times after returning an error, want 1", n)
		}
	})

	t.Run("resumed from the last delivered position misses and repeats nothing", func(t *testing.T) {
		f := s.setup(t)
		cursor := f.fence()
		stream := f.stream("s")
		errStop := errors.New("stop: this round's events are in")
		var want []string
		var got []event.Recorded
		for round := range 4 {
			events := newEvents(3)
			f.append(stream, int64(round*3)-1, events)
			want = append(want, dataIDs(events)...)
			last := events[2].ID
			sub := f.subscribe(cursor, func(_ context.Context, batch []event.Recorded) error {
				for _, e := range batch {
					if e.ID == last {
						return errStop
					}
				}
				return nil
			})
			if err := sub.wait(); !errors.Is(err, errStop) {
				t.Fatalf("Subscribe returned %v, want the handler's error", err)
			}
			got = append(got, sub.collected()...)
			cursor = sub.lastPosition()
		}
		checkIDs(t, "resumed subscriptions", got, want)
	})

	t.Run("returns ctx.Err() when cancelled while live", func(t *testing.T) {
		f := s.setup(t)
		from := f.fence()
		events := newEvents(1)
		sub := f.subscribe(from, nil)
		f.append(f.stream("s"), event.NoStream, events)
		sub.waitForID(events[0].ID)
		if err := sub.stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe returned %v, want context.Canceled", err)
		}
	})

	t.Run("returns ctx.Err() when cancelled while catching up", func(t *testing.T) {
		f := s.setup(t)
		from := f.fence()
		for i := range 5 {
			f.append(f.stream("s"), int64(i*10)-1, newEvents(10))
		}
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		var calls atomic.Int32
		sub := f.subscribeCtx(ctx, from, func(context.Context, []event.Recorded) error {
			calls.Add(1)
			cancel() // and carry on as if nothing happened
			return nil
		})
		if err := sub.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe returned %v, want context.Canceled", err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("handler called %d times after cancellation, want 1", n)
		}
	})

	t.Run("returns ctx.Err() at once when the context is already done", func(t *testing.T) {
		f := s.setup(t)
		f.append(f.stream("s"), event.NoStream, newEvents(1))
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		var calls atomic.Int32
		sub := f.subscribeCtx(ctx, event.Start, func(context.Context, []event.Recorded) error {
			calls.Add(1)
			return nil
		})
		if err := sub.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe returned %v, want context.Canceled", err)
		}
		if n := calls.Load(); n != 0 {
			t.Fatalf("handler called %d times under a cancelled context, want 0", n)
		}
	})
}
