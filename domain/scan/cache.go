package scan

import (
	"container/list"
	"sync"
)

// DefaultCacheSize is how many scans a Handler keeps loaded when CacheSize is 0. A
// cached scan costs its state, mostly the current attempt's checklists and the photo
// list: measured ~50 KiB with the house-scanner checklists and 6 photos, ~105 KiB with
// 200 photos, so the default holds at most ~25-55 MiB.
const DefaultCacheSize = 512

// loaded is a scan's state at a stream version together with the id and chain value of
// the event at that version: the id tells that the stream still holds that event, the
// chain is what the next appended event links to.
type loaded struct {
	scan   *Scan  // Version is the stream version of the last applied event
	chain  string // the chain of that event; the stream name before the first one
	lastID string // that event's id; empty before the first one
}

// aggregates keeps the most recently used scans, least recently used evicted first.
// Entries are never modified after they are stored and never handed out: callers get
// deep copies, so no two commands share state.
type aggregates struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element // of *cached
	order *list.List               // most recently used at the front
}

type cached struct {
	id string
	loaded
}

func newAggregates(max int) *aggregates {
	return &aggregates{max: max, items: make(map[string]*list.Element), order: list.New()}
}

// get returns a private copy of the cached state of scan id, if there is one.
func (c *aggregates) get(id string) (loaded, bool) {
	c.mu.Lock()
	el, ok := c.items[id]
	var e *cached
	if ok {
		c.order.MoveToFront(el)
		e = el.Value.(*cached) // put replaces it; the entry itself never changes
	}
	c.mu.Unlock()
	if !ok {
		return loaded{}, false
	}
	return loaded{scan: e.scan.clone(), chain: e.chain, lastID: e.lastID}, true
}

// put stores a copy of l unless a newer version of the scan is already cached: commands
// on one scan may finish out of order.
func (c *aggregates) put(l loaded) {
	if l.scan.Version < 0 {
		return // a scan that does not exist is not worth a slot
	}
	e := &cached{id: l.scan.ID, loaded: loaded{scan: l.scan.clone(), chain: l.chain, lastID: l.lastID}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.id]; ok {
		if el.Value.(*cached).scan.Version < e.scan.Version {
			el.Value = e
		}
		c.order.MoveToFront(el)
		return
	}
	c.items[e.id] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*cached).id)
	}
}

// drop forgets scan id, when its cached state can no longer be trusted.
func (c *aggregates) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.Remove(el)
		delete(c.items, id)
	}
}
