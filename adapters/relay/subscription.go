package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Errors that end a subscription.
var (
	ErrSlow   = errors.New("relay: client fell behind")
	ErrClosed = errors.New("relay: hub stopped")
)

// backlogPage is how many rows one backlog read returns.
const backlogPage = 256

// resyncData tells a client why it got a resync message.
const resyncData = `{"reason":"resume id is not in the retained feed; reload state"}`

// Subscription is one connection's view of a user's feed. Its transport either pulls
// messages with Next, or hands Deliver a function that writes one. A subscription owns
// no goroutine and no buffer until rows arrive, which is what keeps ten thousand idle
// connections cheap.
type Subscription struct {
	hub     *Hub
	user    string
	scan    string
	ctx     context.Context
	cancel  context.CancelCauseFunc
	once    sync.Once
	after   int64 // where delivery starts; fixed by Subscribe
	resumed bool
	resync  bool

	// Shared with the hub's dispatch.
	mu sync.Mutex
	// catchingUp is true while the reader takes rows from the table (a resume's
	// backlog, or after the queue overflowed): live rows are then dropped rather than
	// queued, because the table read that ends the catch-up sees them anyway.
	catchingUp bool
	queue      []Item
	wake       chan struct{}       // Next waits on it
	send       func(Message) error // set by Deliver
	end        func(error)

	state atomic.Int32 // Deliver's worker: idle, draining, again
	// busy is true while the reader is not ready for the next message: outside Next
	// (from the start), or, once given to Deliver, inside send.
	busy atomic.Bool
	// stalled counts rows offered while the reader was busy since it last took one; a
	// reader that lets it pass the hub's MaxLag is stuck, not merely slow, and is
	// ended. Rows offered while Deliver's worker is not sending (a burst that lands
	// before its goroutine got to run) are no sign of a stuck client: they wait in the
	// queue or the table.
	stalled atomic.Int64

	// Only the goroutine calling Next, or Deliver's worker, touches these.
	last      int64  // last sequence passed on (or skipped by the scan filter)
	pending   []Item // rows taken from the table or the queue, not yet passed on
	resyncDue bool
}

func newSubscription(ctx context.Context, h *Hub, user, scan string, catchUp bool) *Subscription {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &Subscription{hub: h, user: user, scan: scan, ctx: ctx, cancel: cancel,
		catchingUp: catchUp, wake: make(chan struct{}, 1)}
	s.busy.Store(true)
	return s
}

// Resumed reports that the client's resume id was honoured: Next starts with exactly
// the messages after it.
func (s *Subscription) Resumed() bool { return s.resumed }

// Resync reports that the client's resume id could not be honoured: Next starts with a
// resync message.
func (s *Subscription) Resync() bool { return s.resync }

// After is the sequence delivery starts after: the honoured resume id, or the live end
// (or the oldest retained row, after a resync) when there was none.
func (s *Subscription) After() int64 { return s.after }

// Err is nil while the subscription runs, and why it ended afterwards.
func (s *Subscription) Err() error { return context.Cause(s.ctx) }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.ctx.Done() }

// Close ends the subscription.
func (s *Subscription) Close() { s.fail(context.Canceled) }

func (s *Subscription) fail(err error) { s.cancel(err) }

// offer is called by the hub with its lock held: it must never block.
func (s *Subscription) offer(it Item) {
	if s.busy.Load() && s.stalled.Add(1) > int64(s.hub.maxLag) {
		s.hub.slow.Add(1)
		s.fail(ErrSlow)
		return
	}
	s.mu.Lock()
	switch {
	case s.ctx.Err() != nil, s.catchingUp:
		s.mu.Unlock()
		return
	case len(s.queue) >= s.hub.queue:
		// A burst (one commit with many rows for this user) or a busy reader: hold no
		// more in memory and let the reader continue from the table.
		s.queue = nil
		s.catchingUp = true
	default:
		s.queue = append(s.queue, it)
	}
	push := s.send != nil
	s.mu.Unlock()
	if push {
		s.kick()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) remove() {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		if set := h.subs[s.user]; set != nil {
			if _, ok := set[s]; ok {
				delete(set, s)
				h.count--
			}
			if len(set) == 0 {
				delete(h.subs, s.user)
			}
		}
		h.mu.Unlock()
		s.mu.Lock()
		s.queue = nil
		s.mu.Unlock()
	})
}

// Next returns the next message, waiting for one. It returns ctx's error when ctx is
// done first, which leaves the subscription intact (a transport may bound the wait to
// write a heartbeat), and the subscription's error once it ended (ErrSlow, ErrClosed,
// a feed read error, or context.Canceled). Only one goroutine may call Next, and not
// on a subscription given to Deliver.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	s.busy.Store(false)
	defer s.busy.Store(true)
	for {
		if err := s.Err(); err != nil {
			return Message{}, err
		}
		if err := ctx.Err(); err != nil {
			return Message{}, err
		}
		m, ok, err := s.poll()
		if err != nil {
			return Message{}, err
		}
		if ok {
			return m, nil
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
		case <-ctx.Done():
		}
	}
}

// Deliver passes every message to send, in order, until the subscription ends, then
// calls end once with why (ErrSlow, ErrClosed, a feed read error, send's error, or
// context.Canceled). Both run on a goroutine that exists only while there is work,
// started when rows arrive: an idle connection costs no goroutine here. send should
// bound how long it blocks: while it blocks nothing is passed on, and if the hub's
// MaxLag rows arrive meanwhile the subscription ends with ErrSlow. Use Deliver or
// Next, not both.
func (s *Subscription) Deliver(send func(Message) error, end func(error)) {
	s.mu.Lock()
	s.send, s.end = send, end
	s.mu.Unlock()
	s.busy.Store(false)
	// Ending must reach end even when no row ever arrives again.
	context.AfterFunc(s.ctx, s.kick)
	s.kick()
}

// Delivery states: no worker, a worker draining, a worker draining that must look
// again before it stops (rows arrived meanwhile).
const (
	idle int32 = iota
	draining
	again
)

// kick makes sure a worker drains the subscription. It never blocks.
func (s *Subscription) kick() {
	for {
		switch s.state.Load() {
		case idle:
			if s.state.CompareAndSwap(idle, draining) {
				go s.work()
				return
			}
		case draining:
			if s.state.CompareAndSwap(draining, again) {
				return
			}
		default:
			return
		}
	}
}

func (s *Subscription) work() {
	for {
		s.state.Store(draining)
		if s.drain() {
			return // ended: the state stays busy, so no worker starts again
		}
		if s.state.CompareAndSwap(draining, idle) {
			return
		}
	}
}

// drain sends what is waiting and reports whether the subscription ended.
func (s *Subscription) drain() bool {
	for {
		err := s.Err()
		if err == nil {
			var m Message
			var ok bool
			if m, ok, err = s.poll(); err == nil {
				if !ok {
					return false
				}
				s.busy.Store(true)
				err = s.send(m)
				s.busy.Store(false)
				if err != nil {
					s.fail(err)
					err = s.Err()
				}
			}
		}
		if err != nil {
			s.end(err)
			return true
		}
	}
}

// poll returns the next message if one is ready, reading the table when the
// subscription is catching up, but never waiting for new rows.
func (s *Subscription) poll() (Message, bool, error) {
	for {
		if s.resyncDue {
			s.resyncDue = false
			return s.resyncMessage(s.last), true, nil
		}
		if len(s.pending) > 0 {
			m, ok, err := s.take()
			if err != nil {
				return Message{}, false, s.failRead(err)
			}
			if ok {
				return m, true, nil
			}
			continue
		}
		if s.catching() {
			if err := s.catchUp(); err != nil {
				return Message{}, false, s.failRead(err)
			}
			continue
		}
		s.mu.Lock()
		s.pending, s.queue = s.queue, nil
		s.mu.Unlock()
		if len(s.pending) == 0 {
			return Message{}, false, nil
		}
	}
}

// failRead ends the subscription after a feed read failed, unless it had ended already
// (the read failed because it did): its first cause is what callers need to see.
func (s *Subscription) failRead(err error) error {
	if cause := s.Err(); cause != nil {
		return cause
	}
	s.fail(err)
	return s.Err()
}

func (s *Subscription) catching() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catchingUp
}

// catchUp reads one backlog page. On a short page it switches to live rows first and
// reads once more, so a row committed between the two reads reaches the client through
// the table or the queue, never through neither.
func (s *Subscription) catchUp() error {
	items, err := s.hub.feed.ReadUser(s.ctx, s.user, s.last, backlogPage)
	if err != nil {
		return fmt.Errorf("relay: read backlog: %w", err)
	}
	if len(items) == backlogPage {
		s.pending = items
		return nil
	}
	s.mu.Lock()
	s.catchingUp = false
	s.mu.Unlock()
	more, err := s.hub.feed.ReadUser(s.ctx, s.user, s.last, backlogPage)
	if err != nil {
		return fmt.Errorf("relay: read backlog: %w", err)
	}
	s.pending = more
	return nil
}

// take passes on the first pending row. ok is false when the row was skipped (already
// passed on, or another scan's) or when a gap before it was filled from the table
// first.
func (s *Subscription) take() (m Message, ok bool, err error) {
	it := s.pending[0]
	if it.Seq <= s.last {
		s.pending = s.pending[1:]
		return Message{}, false, nil
	}
	if it.Seq > s.last+1 {
		// Rows between are missing: a live row overtook them (the hub saw a later
		// commit first) or they were pruned meanwhile. Read them from the table.
		gap, err := s.hub.feed.ReadUser(s.ctx, s.user, s.last, int(min(it.Seq-s.last-1, backlogPage)))
		if err != nil {
			return Message{}, false, fmt.Errorf("relay: read gap: %w", err)
		}
		if len(gap) > 0 && gap[0].Seq == s.last+1 {
			n := 0
			for n < len(gap) && gap[n].Seq < it.Seq {
				n++
			}
			s.pending = append(gap[:n:n], s.pending...)
			return Message{}, false, nil
		}
		// The table no longer has them: say so rather than skip silently.
		s.last = it.Seq - 1
		return s.resyncMessage(s.last), true, nil
	}
	s.pending = s.pending[1:]
	if len(s.pending) == 0 {
		s.pending = nil
	}
	s.last = it.Seq
	s.stalled.Store(0)
	if s.scan != "" && it.ScanID != s.scan {
		return Message{}, false, nil
	}
	s.hub.sent.Add(1)
	return Message{ID: it.Seq, Event: it.Event, Data: it.Payload}, true, nil
}

func (s *Subscription) resyncMessage(after int64) Message {
	return Message{ID: after, Event: ResyncEvent, Data: []byte(resyncData)}
}
