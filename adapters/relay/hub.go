// Package relay delivers each user's live updates to their browsers: one Hub per
// process tails the user_feed projection and fans rows out to connections, and the
// transports (SSE, WebSocket and Socket.IO) turn a Subscription into frames. Every
// message carries the user's feed sequence as its id, so a client that reconnects with
// the last id it saw gets exactly what it missed, or an explicit resync message when
// that is no longer possible.
package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Item is one user_feed row.
type Item struct {
	ID        int64 // global order of the feed table
	UserID    string
	Seq       int64 // the user's own sequence, from 1: the id clients see
	ScanID    string
	Event     string // "scan:progress", ...
	Payload   json.RawMessage
	CreatedAt time.Time
}

// Feed reads the user_feed projection (projections/feed implements it).
//
// Tail returns up to limit rows with ID > afterID in ID order; LastID returns the highest
// ID (0 when empty). ReadUser returns up to limit rows of one user with Seq > afterSeq in
// Seq order. Bounds returns the lowest Seq still stored for a user and the highest Seq
// ever given to them (0, 0 when none); the two may be read at different moments, and
// the hub allows for rows committed in between.
type Feed interface {
	Tail(ctx context.Context, afterID int64, limit int) ([]Item, error)
	LastID(ctx context.Context) (int64, error)
	ReadUser(ctx context.Context, userID string, afterSeq int64, limit int) ([]Item, error)
	Bounds(ctx context.Context, userID string) (oldest, latest int64, err error)
}

// ResyncEvent is the message sent when a client's resume id cannot be honoured (older
// than the retention window, or unknown): it must reload state over REST. Messages that
// follow continue from the oldest stored one.
const ResyncEvent = "resync"

// Message is what a transport writes to a client.
type Message struct {
	// ID is the feed sequence; for a resync message, the sequence delivery continues
	// after, so clients can always store the last id they saw.
	ID    int64
	Event string
	Data  json.RawMessage
}

// Hub fans feed rows out to subscriptions. Create it with NewHub and run Run.
type Hub struct {
	feed   Feed
	log    *slog.Logger
	poll   time.Duration
	queue  int
	maxLag int
	wake   chan struct{}
	ready  chan struct{}

	// lastID is only touched by Run's goroutine.
	lastID int64

	mu      sync.Mutex
	stopped bool
	subs    map[string]map[*Subscription]struct{}
	count   int

	// sent counts messages passed to transports; slow the subscriptions ended with
	// ErrSlow (see Counters).
	sent, slow atomic.Uint64
}

// HubOptions tune a Hub.
type HubOptions struct {
	// Poll is how often the feed is read without a wake-up (other instances' writes,
	// missed notifications). Default 1 s.
	Poll time.Duration
	// Queue bounds each subscription's in-memory queue of live rows its transport has
	// not taken yet. When it is full the subscription stops queueing and its reader
	// continues from the feed table, so a burst costs reads, not memory. Default 256.
	Queue int
	// MaxLag is how many rows may arrive for a subscription while its reader passes
	// nothing on: a reader stuck that long (a client that stopped reading) is ended
	// with ErrSlow, and its client reconnects and resumes. Rows that arrive while a
	// Deliver reader is not writing (a burst before its goroutine ran) do not count;
	// for a Next reader, it must exceed the rows one user can get in one burst (a
	// projection batch). Default 4 × Queue.
	MaxLag int
	Logger *slog.Logger
}

// NewHub returns a hub over feed.
func NewHub(feed Feed, o HubOptions) *Hub {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 256
	}
	if o.MaxLag <= 0 {
		o.MaxLag = 4 * o.Queue
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Hub{feed: feed, log: o.Logger, poll: o.Poll, queue: o.Queue, maxLag: o.MaxLag,
		wake: make(chan struct{}, 1), subs: map[string]map[*Subscription]struct{}{}, ready: make(chan struct{})}
}

// Wake tells the hub the feed has new rows. It never blocks (the projection runner calls
// it after each commit).
func (h *Hub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Counters returns how many messages the hub passed to its transports and how many
// subscriptions it ended because their client fell behind, since it was created.
func (h *Hub) Counters() (sent, slow uint64) { return h.sent.Load(), h.slow.Load() }

// Run tails the feed until ctx is done, then ends every subscription with ErrClosed. It
// starts from the feed's current end: history before that is served to each
// subscription from the feed table itself.
func (h *Hub) Run(ctx context.Context) error {
	defer h.closeAll()
	for {
		last, err := h.feed.LastID(ctx)
		if err == nil {
			h.lastID = last
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.log.Warn("relay: read feed end", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.poll):
		}
	}
	close(h.ready)
	t := time.NewTicker(h.poll)
	defer t.Stop()
	for {
		if err := h.dispatch(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("relay: tail feed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.wake:
		case <-t.C:
		}
	}
}

// dispatch hands every new row to its user's subscriptions. offer never blocks, so one
// stalled connection cannot hold up anyone else's delivery.
func (h *Hub) dispatch(ctx context.Context) error {
	for {
		items, err := h.feed.Tail(ctx, h.lastID, 512)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		h.mu.Lock()
		for _, it := range items {
			for s := range h.subs[it.UserID] {
				s.offer(it)
			}
		}
		h.mu.Unlock()
		h.lastID = items[len(items)-1].ID
	}
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	h.stopped = true
	var all []*Subscription
	for _, set := range h.subs {
		for s := range set {
			all = append(all, s)
		}
	}
	h.mu.Unlock()
	for _, s := range all {
		s.fail(ErrClosed)
	}
}

// Resume says where a subscription starts.
type Resume struct {
	// After is the last feed sequence the client saw. With Set false the subscription
	// starts at the live end (a first connection).
	After int64
	Set   bool
}

// Subscribe starts a subscription to userID's feed. scanID, when set, filters to one
// scan. The subscription ends when ctx is done, when Close is called, when it falls
// behind (ErrSlow), or when the hub stops (ErrClosed).
//
// Whether the resume was honoured is decided here, before any message: Resumed, Resync
// and After answer at once, because Socket.IO must tell the client in its CONNECT ack.
//
// Delivery is gapless and duplicate-free: the subscription is registered for live rows
// before the feed's bounds and backlog are read, and every row is passed on once, in
// sequence order, whichever path brought it.
func (h *Hub) Subscribe(ctx context.Context, userID string, resume Resume, scanID string) (*Subscription, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s := newSubscription(ctx, h, userID, scanID, resume.Set)
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		s.cancel(ErrClosed)
		return nil, ErrClosed
	}
	if h.subs[userID] == nil {
		h.subs[userID] = map[*Subscription]struct{}{}
	}
	h.subs[userID][s] = struct{}{}
	h.count++
	h.mu.Unlock()
	// The registration ends with the subscription, whoever ends it; AfterFunc costs no
	// goroutine until then.
	context.AfterFunc(s.ctx, s.remove)

	start, resync, err := h.startSeq(ctx, userID, resume)
	if err != nil {
		s.cancel(err)
		return nil, err
	}
	s.after, s.last = start, start
	s.resync, s.resyncDue = resync, resync
	s.resumed = resume.Set && !resync
	return s, nil
}

func (h *Hub) startSeq(ctx context.Context, userID string, r Resume) (after int64, resync bool, err error) {
	oldest, latest, err := h.feed.Bounds(ctx, userID)
	if err == nil && oldest == 0 && latest > 0 && r.Set {
		// Either everything was pruned, or the first rows were committed between the
		// two reads of Bounds (oldest read before they existed, latest after). Asking
		// again tells which: rows up to latest are visible now unless pruned.
		oldest, latest, err = h.feed.Bounds(ctx, userID)
	}
	if err != nil {
		return 0, false, fmt.Errorf("feed bounds: %w", err)
	}
	if !r.Set {
		return latest, false, nil
	}
	switch {
	case r.After < 0, r.After > latest:
		// An id this user's feed never had: tell the client to reload, then go live.
		return latest, true, nil
	case oldest > 0 && r.After < oldest-1:
		// Rows after the client's id were pruned: a partial replay would hide the gap.
		return oldest - 1, true, nil
	case oldest == 0 && r.After < latest:
		// Everything the user had was pruned, including what the client missed.
		return latest, true, nil
	}
	return r.After, false, nil
}
