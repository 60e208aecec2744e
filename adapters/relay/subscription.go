package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
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
	wake       chan struct{} // Next waits on it
	w          Writer        // set by Deliver

	state atomic.Int32 // Deliver's worker: idle, draining, again
	// busy is true while the reader is not ready for the next message: outside Next
	// (from the start), or, once given to Deliver, inside its Writer.
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
	unflushed bool // Deliver's writer wrote since its last Flush

	beatDue  atomic.Bool // a heartbeat waits for the writer
	stopBeat func()      // stops the heartbeat timer; set by Deliver
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
	if s.busy.Load() && s.stalled.Add(1) > int64(s.hub.MaxLag) {
		s.hub.slow.Add(1)
		s.fail(ErrSlow)
		return
	}
	s.mu.Lock()
	switch {
	case s.ctx.Err() != nil, s.catchingUp:
		s.mu.Unlock()
		return
	case len(s.queue) >= s.hub.Queue:
		// A burst (one commit with many rows for this user) or a busy reader: hold no
		// more in memory and let the reader continue from the table.
		s.queue = nil
		s.catchingUp = true
	default:
		s.queue = append(s.queue, it)
	}
	push := s.w != nil
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

// Writer is one connection's transport, written by the subscription's one writer: a
// goroutine that exists only while messages or a heartbeat wait, so an idle connection
// costs none. Every transport (SSE, WebSocket, a Socket.IO session) is a Writer on a
// subscription's bounded queue; none keeps a goroutine, channel or retry loop of its
// own between the queue and the client.
type Writer interface {
	// Write writes one message; it may buffer it until Flush. It should bound how
	// long it blocks: while it blocks nothing is passed on, and if the hub's MaxLag
	// rows arrive meanwhile the subscription ends with ErrSlow.
	Write(Message) error
	// Flush sends what Write buffered. It is called whenever no more messages are
	// ready, so a burst costs one flush.
	Flush() error
	// Heartbeat writes and sends a keep-alive frame (only with a beat, see Deliver).
	Heartbeat() error
	// End is called once, from the writer, when the subscription has ended, with why
	// (ErrSlow, ErrClosed, a feed read error, a Write or Flush error, or
	// context.Canceled).
	End(error)
}

// Deliver makes w the subscription's writer: every message is passed to w in order
// until the subscription ends, then w.End is called. With beat > 0, w.Heartbeat runs
// every beat, on the same writer, never between a Write and its Flush. Call Deliver
// once, and not with Next.
func (s *Subscription) Deliver(w Writer, beat time.Duration) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
	s.busy.Store(false)
	if beat > 0 {
		s.stopBeat = every(beat, func() bool {
			s.beatDue.Store(true)
			s.kick()
			return s.Err() == nil
		})
	}
	// Ending must reach End even when no row ever arrives again.
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

// drain writes what is waiting and reports whether the subscription ended.
func (s *Subscription) drain() bool {
	for {
		err := s.Err()
		if err == nil {
			var m Message
			var ok bool
			if m, ok, err = s.poll(); err == nil {
				s.busy.Store(true)
				switch {
				case ok:
					s.unflushed = true
					err = s.w.Write(m)
				case s.unflushed:
					s.unflushed = false
					err = s.w.Flush()
				case s.beatDue.Swap(false):
					err = s.w.Heartbeat()
				default:
					s.busy.Store(false)
					return false
				}
				s.busy.Store(false)
				if err != nil {
					err = s.failRead(err)
				}
			}
		}
		if err != nil {
			if s.stopBeat != nil {
				s.stopBeat()
			}
			s.w.End(err)
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
	items, err := s.hub.Feed.ReadUser(s.ctx, s.user, s.last, backlogPage)
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
	more, err := s.hub.Feed.ReadUser(s.ctx, s.user, s.last, backlogPage)
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
		gap, err := s.hub.Feed.ReadUser(s.ctx, s.user, s.last, int(min(it.Seq-s.last-1, backlogPage)))
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
