package scan

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
)

// Meta is who and what caused a command; it goes into every event's metadata.
type Meta struct {
	UserID        string // the acting user; empty for the system (worker)
	CorrelationID string // the request or job the command belongs to
	CausationID   string // the command or event that caused it
}

// Handler runs commands against scans: load the stream, decide with the aggregate,
// append the new events at the loaded version. On a version conflict it reloads and
// decides again, a bounded number of times.
//
// It keeps the scans it recently loaded or wrote (state, version and chain value) so
// that a command reads only the events appended since, by this or any other instance,
// instead of the whole stream: a command costs the same on a long scan as on a short
// one. The cache is only a starting point; the append's expected version is what
// guarantees that a decision was made on the stream's current state.
type Handler struct {
	Store event.Store
	// Cipher seals the personal fields of new events under their owner's key and opens
	// them on load. Without one, a command that stores personal data fails.
	Cipher *personal.Cipher
	// Now and NewID are the clock and id source; tests replace them.
	Now   func() time.Time
	NewID func() string
	// Attempts bounds how many times a command is decided on conflicts (default 5).
	Attempts int
	// CacheSize bounds how many scans are kept loaded between commands, least recently
	// used dropped first (default DefaultCacheSize; negative: none, every command reads
	// its scan's whole stream). Set it before the first command.
	CacheSize int
	// TrustCache lets a command decide on a cached scan without first reading the
	// stream's tail to confirm it: the append's expected version is what catches a cache
	// that another writer made stale (the command then reads what it missed and decides
	// again, as on any conflict), and a command refused on unconfirmed state reads the
	// tail and decides again before the refusal stands. It saves a stream read per
	// command. What it gives up: a stream replaced by other events up to the very
	// version cached (a backup restored under a running process that was then written
	// to again) is not noticed. Load always reads the tail.
	TrustCache bool
	// Observe, when set, is told how long each command took and how it ended (nil
	// error: appended or nothing to do), for latency metrics. It must not block.
	Observe func(took time.Duration, err error)

	cacheOnce sync.Once
	cache     *aggregates // nil when CacheSize < 0
}

// NewHandler returns a Handler with the real clock and random ids.
func NewHandler(store event.Store) *Handler {
	return &Handler{Store: store, Now: time.Now, NewID: domain.NewEventID, Attempts: 5}
}

// aggregates returns the handler's cache, made on first use, or nil when disabled.
func (h *Handler) aggregates() *aggregates {
	h.cacheOnce.Do(func() {
		n := h.CacheSize
		if n == 0 {
			n = DefaultCacheSize
		}
		if n > 0 {
			h.cache = newAggregates(n)
		}
	})
	return h.cache
}

// Result is what a command produced.
type Result struct {
	Scan     *Scan        // state after the command
	Events   []event.Data // events appended (empty when the command was a no-op)
	Position event.Cursor // all-stream position of the last appended event
}

// Execute runs decide on the current state of scan id and appends what it raised.
//
// Event IDs are minted once, before the first try, and reused on every retry: if an
// earlier try did commit (and only its answer was lost), the reload finds our own
// events in the stream and Execute reports success instead of deciding twice.
func (h *Handler) Execute(ctx context.Context, id string, meta Meta, decide func(*Scan) error) (Result, error) {
	if h.Observe == nil {
		return h.execute(ctx, id, meta, decide)
	}
	began := time.Now()
	res, err := h.execute(ctx, id, meta, decide)
	h.Observe(time.Since(began), err)
	return res, err
}

func (h *Handler) execute(ctx context.Context, id string, meta Meta, decide func(*Scan) error) (Result, error) {
	attempts := h.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	var ids []string
	idAt := func(i int) string {
		for len(ids) <= i {
			ids = append(ids, h.NewID())
		}
		return ids[i]
	}
	stream := StreamName(id)
	cache := h.aggregates()
	// base is this command's own copy of the state it decides on; it is caught up, never
	// decided on, so after a failed append it still stands at the version that append
	// expected.
	var (
		base loaded
		err  error
	)
	confirmed := true // base is known to be the stream's state when it was read
	if l, ok := h.trusted(id); ok {
		base, confirmed = l, false
	} else if base, err = h.current(ctx, id); err != nil {
		return Result{}, err
	}
	var lastErr error
	reread := false // base was just read from the stream after a refused append
	for try := 0; try < attempts; try++ {
		if try > 0 && !reread {
			// The last append failed: another writer got in first, or ours committed
			// and only its answer was lost. Either way the events that matter follow
			// the version it expected, so read from there, not from the shared cache (a
			// concurrent command may have moved it past our own events).
			recs, err := h.catchUp(ctx, &base)
			confirmed = true
			if errors.Is(err, errStale) || (err == nil && len(recs) == 0) {
				// The stream no longer holds what we loaded, or holds nothing newer
				// although the append failed (a connection lost before the commit, or a
				// store that contradicts itself): trust nothing we kept and read the
				// stream from its first event, as without a cache.
				if cache != nil {
					cache.drop(id)
				}
				base, recs, err = h.reload(ctx, id)
			}
			if err != nil {
				return Result{}, err
			}
			if cache != nil {
				cache.put(base)
			}
			if pos, ok := containsEvent(recs, ids[0]); ok {
				return Result{Scan: base.scan, Position: pos}, nil
			}
		}
		reread = false
		s := base.scan.clone()
		if err := decide(s); err != nil {
			if confirmed {
				return Result{Scan: s}, err
			}
			// Refused on state taken from the cache unread: the refusal stands only
			// if the stream's current state refuses it too.
			if base, err = h.current(ctx, id); err != nil {
				return Result{}, err
			}
			confirmed = true
			s = base.scan.clone()
			if err := decide(s); err != nil {
				return Result{Scan: s}, err
			}
		}
		changes := s.Changes()
		if len(changes) == 0 {
			return Result{Scan: s}, nil
		}
		prev := base.chain
		now := h.Now().UTC()
		expected := base.scan.Version
		data := make([]event.Data, len(changes))
		for i, e := range changes {
			d, chain, err := h.envelope(ctx, e, s.UserID, stream, expected+1+int64(i), idAt(i), prev, now, meta)
			if err != nil {
				return Result{}, err
			}
			data[i], prev = d, chain
		}
		if expected < 0 {
			expected = event.NoStream
		}
		res, err := h.Store.Append(ctx, stream, expected, data)
		if err == nil {
			s.changes = nil
			if cache != nil {
				cache.put(loaded{scan: s, chain: prev, lastID: data[len(data)-1].ID})
			}
			return Result{Scan: s, Events: data, Position: res.Position}, nil
		}
		// A domain error other than a conflict is final. Anything else (a conflict, a
		// lost connection) may mean another writer won or our own append committed and
		// only its answer was lost: reload and look for our event ids before deciding
		// again.
		var de *domain.Error
		if errors.As(err, &de) && !errors.Is(err, event.ErrWrongExpectedVersion) {
			if confirmed {
				return Result{}, fmt.Errorf("append to %s: %w", stream, err)
			}
			// Refused after deciding on state taken from the cache unread: the refusal
			// stands only if the decision on the stream's current state is refused too.
			lastErr = err
			if base, err = h.current(ctx, id); err != nil {
				return Result{}, err
			}
			confirmed, reread = true, true
			continue
		}
		lastErr = err
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
	}
	return Result{}, fmt.Errorf("scan %s: gave up after %d tries: %w", id, attempts, lastErr)
}

// envelope seals e's personal fields under owner's key and encodes it, to be appended
// at version of stream, with its metadata, and returns it with its chain link.
func (h *Handler) envelope(ctx context.Context, e Event, owner, stream string, version int64, id, prev string, now time.Time, meta Meta) (event.Data, string, error) {
	e, err := Seal(ctx, h.Cipher, owner, e)
	if err != nil {
		return event.Data{}, "", err
	}
	body, err := Encode(e)
	if err != nil {
		return event.Data{}, "", err
	}
	typ := e.EventType()
	return event.Chained(stream, version, prev, id, typ, SchemaVersion(typ), body, event.Metadata{
		OccurredAt:    now,
		UserID:        meta.UserID,
		CorrelationID: meta.CorrelationID,
		CausationID:   meta.CausationID,
	})
}

// trusted returns the cached state of scan id to decide on without reading its stream,
// when TrustCache allows it and the scan is cached.
func (h *Handler) trusted(id string) (loaded, bool) {
	cache := h.aggregates()
	if !h.TrustCache || cache == nil {
		return loaded{}, false
	}
	return cache.get(id)
}

// Load returns the current state of scan id (StatusNone when it does not exist).
func (h *Handler) Load(ctx context.Context, id string) (*Scan, error) {
	l, err := h.current(ctx, id)
	return l.scan, err
}

// LoadAt returns the state of scan id as it was after the event at version (time
// travel for auditors). A version beyond the stream's end gives the current state.
func (h *Handler) LoadAt(ctx context.Context, id string, version int64) (*Scan, error) {
	recs, err := h.History(ctx, id)
	if err != nil {
		return nil, err
	}
	s := New(id)
	for _, r := range recs {
		if r.Version > version {
			break
		}
		e, err := h.Decode(ctx, r)
		if err != nil {
			return nil, err
		}
		s.Apply(e)
	}
	return s, nil
}

// Decode decodes r and opens its personal fields (personal.Erased when the owner was
// forgotten).
func (h *Handler) Decode(ctx context.Context, r event.Recorded) (Event, error) {
	e, err := Decode(r)
	if err != nil {
		return nil, err
	}
	return Open(ctx, h.Cipher, e)
}

// History reads a scan's whole stream in order.
func (h *Handler) History(ctx context.Context, id string) ([]event.Recorded, error) {
	const page = 512
	stream := StreamName(id)
	var all []event.Recorded
	for {
		recs, err := h.Store.ReadStream(ctx, stream, int64(len(all)), page)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		all = append(all, recs...)
		if len(recs) < page {
			return all, nil
		}
	}
}

// errStale: a stream's versions do not continue from the version a state was at, so
// that state cannot be caught up and must be loaded again from the first event.
var errStale = errors.New("stream does not continue the loaded state")

// current returns a private copy of scan id's state at the end of its stream: the
// cached state caught up with the events appended since, or else the whole stream.
func (h *Handler) current(ctx context.Context, id string) (loaded, error) {
	cache := h.aggregates()
	if cache != nil {
		if l, ok := cache.get(id); ok {
			recs, err := h.catchUp(ctx, &l)
			if err == nil {
				if len(recs) > 0 {
					cache.put(l)
				}
				return l, nil
			}
			if !errors.Is(err, errStale) {
				return loaded{}, err
			}
			cache.drop(id)
		}
	}
	l, _, err := h.reload(ctx, id)
	if err != nil {
		return loaded{}, err
	}
	if cache != nil {
		cache.put(l)
	}
	return l, nil
}

// reload reads scan id's whole stream and returns its state and events.
func (h *Handler) reload(ctx context.Context, id string) (loaded, []event.Recorded, error) {
	l := loaded{scan: New(id), chain: StreamName(id)}
	recs, err := h.catchUp(ctx, &l)
	if err != nil {
		return loaded{}, nil, err
	}
	return l, recs, nil
}

// catchUp applies to l the events stored after its version, takes the chain value and
// id of the last one, and returns them. It first reads the event l was last at again:
// if the stream no longer holds it there (a store restored from a backup, a stream
// written anew), l is not a state of this stream and catchUp returns errStale. On any
// error l is left half-applied: discard it.
func (h *Handler) catchUp(ctx context.Context, l *loaded) ([]event.Recorded, error) {
	const page = 512
	stream := StreamName(l.scan.ID)
	check := l.scan.Version >= 0
	from := l.scan.Version + 1
	if check {
		from = l.scan.Version
	}
	var read []event.Recorded
	for {
		recs, err := h.Store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		more := len(recs) == page
		if check {
			if len(recs) == 0 || recs[0].Version != l.scan.Version || recs[0].ID != l.lastID {
				return nil, fmt.Errorf("%s: event %s is no longer at version %d: %w", stream, l.lastID, l.scan.Version, errStale)
			}
			recs, check = recs[1:], false
		}
		for _, r := range recs {
			if r.Version != l.scan.Version+1 {
				return nil, fmt.Errorf("%s: version %d after %d: %w", stream, r.Version, l.scan.Version, errStale)
			}
			e, err := h.Decode(ctx, r)
			if err != nil {
				return nil, err
			}
			l.scan.Apply(e)
		}
		if len(recs) > 0 {
			last := recs[len(recs)-1]
			m, err := event.ParseMetadata(last.Metadata)
			if err != nil {
				return nil, fmt.Errorf("scan %s: %w", l.scan.ID, err)
			}
			l.chain, l.lastID = m.Chain, last.ID
		}
		read = append(read, recs...)
		if !more {
			return read, nil
		}
		from = l.scan.Version + 1
	}
}

func containsEvent(recs []event.Recorded, id string) (event.Cursor, bool) {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].ID == id {
			return recs[len(recs)-1].Position, true
		}
	}
	return "", false
}
