package relay

import (
	"context"
	"errors"
	"sync"
)

// Errors that end a subscription.
var (
	ErrSlow   = errors.New("relay: client fell behind")
	ErrClosed = errors.New("relay: hub stopped")
)

// Subscription is one connection's view of a user's feed.
type Subscription struct {
	hub    *Hub
	user   string
	scan   string
	live   chan Item // filled by the hub, never blocking it
	out    chan Message
	ctx    context.Context
	cancel context.CancelCauseFunc
	once   sync.Once
}

// C delivers messages in order. It is closed when the subscription ends; Err then says
// why.
func (s *Subscription) C() <-chan Message { return s.out }

// Err is nil while the subscription runs, and why it ended afterwards.
func (s *Subscription) Err() error { return context.Cause(s.ctx) }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.ctx.Done() }

// Close ends the subscription.
func (s *Subscription) Close() { s.fail(context.Canceled) }

// offer is called by the hub with its lock held: it must never block.
func (s *Subscription) offer(it Item) {
	select {
	case s.live <- it:
	default:
		s.fail(ErrSlow)
	}
}

func (s *Subscription) fail(err error) { s.cancel(err) }

func (s *Subscription) remove() {
	s.once.Do(func() {
		s.hub.mu.Lock()
		delete(s.hub.subs[s.user], s)
		if len(s.hub.subs[s.user]) == 0 {
			delete(s.hub.subs, s.user)
		}
		s.hub.mu.Unlock()
	})
}

func (s *Subscription) run(after int64, resync bool) {
	defer close(s.out)
	defer s.remove()
	// The resync message carries the sequence delivery continues after, so a client that
	// stores ids resumes from there next time rather than from nothing.
	if resync && !s.send(Message{ID: after, Event: ResyncEvent, Data: []byte(`{"reason":"resume id is not in the retained feed; reload state"}`)}) {
		return
	}
	// Backlog first, from the table, in pages.
	for {
		items, err := s.hub.feed.ReadUser(s.ctx, s.user, after, 256)
		if err != nil {
			s.fail(err)
			return
		}
		for _, it := range items {
			if !s.deliver(it) {
				return
			}
			after = it.Seq
		}
		if len(items) < 256 {
			break
		}
	}
	// Then live rows, skipping what the backlog already gave.
	for {
		select {
		case <-s.ctx.Done():
			return
		case it := <-s.live:
			if it.Seq <= after {
				continue
			}
			if it.Seq > after+1 {
				// A row the hub has not seen yet is missing in between (a later commit
				// became visible first): read the gap from the table.
				items, err := s.hub.feed.ReadUser(s.ctx, s.user, after, int(it.Seq-after))
				if err != nil {
					s.fail(err)
					return
				}
				for _, g := range items {
					if g.Seq >= it.Seq {
						break
					}
					if !s.deliver(g) {
						return
					}
					after = g.Seq
				}
			}
			if !s.deliver(it) {
				return
			}
			after = it.Seq
		}
	}
}

func (s *Subscription) deliver(it Item) bool {
	if s.scan != "" && it.ScanID != s.scan {
		return true
	}
	return s.send(Message{ID: it.Seq, Event: it.Event, Data: it.Payload})
}

func (s *Subscription) send(m Message) bool {
	select {
	case s.out <- m:
		return true
	case <-s.ctx.Done():
		return false
	}
}
