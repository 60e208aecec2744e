package event

import (
	"context"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/backoff"
)

// Notifier tells any number of waiting subscribers that new events may have been
// committed. The zero value is ready to use; a Notifier must not be copied after use.
//
// A waiter calls Wait before it looks for new events and blocks on the returned channel
// only after it found none. A Notify that lands between the look and the block closes
// the channel the waiter already holds, so no wake-up is ever lost, and one close
// wakes every waiter at once without a send per subscriber.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel that is closed by the next Notify.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes every goroutine holding a channel from Wait. It never blocks, and costs
// nothing when nobody waits, so writers can call it after every commit.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// Follower defaults.
const (
	DefaultPoll       = time.Second
	DefaultBatch      = 256
	DefaultMaxBackoff = 5 * time.Second
	firstBackoff      = 50 * time.Millisecond
)

// Follower implements Store.Subscribe for any adapter that can read its all-stream
// forward by cursor, so every such adapter keeps the same promises (catch up, go live,
// survive transient errors, stop only on cancellation or a handler error) with one
// implementation instead of one per engine.
//
// It is a value configured once per Store; Follow may run any number of times at once.
type Follower struct {
	// Read reads up to max events after the cursor in all-stream order: the
	// adapter's ReadAll. Required.
	Read func(ctx context.Context, after Cursor, max int) ([]Recorded, error)
	// Wake returns a channel closed when events may have been committed after the
	// call, usually (*Notifier).Wait. nil means poll only.
	Wake func() <-chan struct{}
	// Poll is how long a caught-up subscriber waits for a wake-up before reading
	// anyway. It is the safety net for commits nobody signals (another process, a
	// lost LISTEN/NOTIFY connection). Zero means DefaultPoll.
	Poll time.Duration
	// Batch is the largest read, and so the largest handler batch. Zero means
	// DefaultBatch.
	Batch int
	// MaxBackoff caps the growing pause between retries of a failing read. Zero
	// means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// OnError, if set, is told about every read error that Follow retries, so that
	// an outage is logged or counted rather than silent.
	OnError func(error)
}

// Follow calls h with every event after the cursor in all-stream order, as described
// by Store.Subscribe: first it reads in batches until a read comes back short (caught
// up), then it waits for a wake-up or the poll interval and reads again.
//
// It returns ctx.Err() once ctx is done, or the handler's error unchanged. A read error
// with code domain.EINVALID (a malformed cursor) is returned too, since retrying cannot
// fix it; every other read error is treated as transient and retried with capped,
// jittered exponential backoff.
func (f Follower) Follow(ctx context.Context, after Cursor, h Handler) error {
	poll := f.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	batch := f.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	retry := backoff.Policy{First: firstBackoff, Max: f.MaxBackoff}
	if retry.Max <= 0 {
		retry.Max = DefaultMaxBackoff
	}

	// One timer for the life of the subscription: since Go 1.23, Reset needs no drain.
	timer := time.NewTimer(poll)
	defer timer.Stop()

	pause := time.Duration(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Taken before the read, so a commit after the read closes this very channel.
		var wake <-chan struct{}
		if f.Wake != nil {
			wake = f.Wake()
		}
		events, err := f.Read(ctx, after, batch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if domain.ErrorCode(err) == domain.EINVALID {
				return err
			}
			if f.OnError != nil {
				f.OnError(err)
			}
			pause = retry.Next(pause)
			timer.Reset(backoff.Jitter(pause))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
			continue
		}
		pause = 0
		if len(events) > 0 {
			if err := h(ctx, events); err != nil {
				return err
			}
			after = events[len(events)-1].Position
		}
		if len(events) >= batch {
			continue // a full batch: more may be stored already, keep catching up
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-timer.C:
		}
	}
}
