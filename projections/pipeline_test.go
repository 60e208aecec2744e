package projections_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/projections"
)

// overlapSpy is a batching projection whose Prepare, for the events of the second
// delivery, waits until the first batch's Flush has started, and whose first Flush waits
// (up to a guard that only keeps a runner without the overlap from hanging) until the
// second delivery is being prepared.
type overlapSpy struct {
	first int // events in the first delivery

	mu       sync.Mutex
	flushing chan struct{} // closed when the first Flush starts
	next     chan struct{} // closed when an event of the second delivery is prepared
	overlap  bool          // the first Flush saw the second delivery being prepared
	handled  []event.Cursor
	mismatch []string
}

func newOverlapSpy(first int) *overlapSpy {
	return &overlapSpy{first: first, flushing: make(chan struct{}), next: make(chan struct{})}
}

func (s *overlapSpy) Name() string { return "overlap" }
func (s *overlapSpy) Begin()       {}

func (s *overlapSpy) Handle(_ context.Context, _ *projections.Tx, e event.Recorded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handled = append(s.handled, e.Position)
	return nil
}

func (s *overlapSpy) Prepare(e event.Recorded) any {
	if n, err := strconv.Atoi(string(e.Position)); err == nil && n > s.first {
		s.mu.Lock()
		select {
		case <-s.next:
		default:
			close(s.next)
		}
		s.mu.Unlock()
		<-s.flushing
	}
	return e.Position
}

func (s *overlapSpy) HandlePrepared(ctx context.Context, tx *projections.Tx, e event.Recorded, prepared any) error {
	if prepared != e.Position {
		s.mu.Lock()
		s.mismatch = append(s.mismatch, fmt.Sprintf("%s prepared as %v", e.Position, prepared))
		s.mu.Unlock()
	}
	return s.Handle(ctx, tx, e)
}

func (s *overlapSpy) Flush(context.Context, *projections.Tx) error {
	s.mu.Lock()
	select {
	case <-s.flushing:
		s.mu.Unlock()
		return nil // not the first
	default:
		close(s.flushing)
	}
	s.mu.Unlock()
	select {
	case <-s.next:
		s.overlap = true
	case <-time.After(5 * time.Second):
	}
	return nil
}

// While the runner catches up it prepares (decodes) the next delivery during the
// previous one's flush and commit, and still applies every event once and in order.
// A group (serve's read model is one) is prepared ahead like a projection alone.
func TestRunner_WhileBehindPreparesTheNextDeliveryDuringTheFlushOfTheLast(t *testing.T) {
	t.Parallel()
	for name, wrap := range map[string]func(*overlapSpy) projections.Projection{
		"alone":    func(p *overlapSpy) projections.Projection { return p },
		"in group": func(p *overlapSpy) projections.Projection { return projections.NewGroup("overlap", p) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			preparesAheadInOrder(t, wrap)
		})
	}
}

func preparesAheadInOrder(t *testing.T, wrap func(*overlapSpy) projections.Projection) {
	d := newSQLite(t)
	w := newWorld(t)
	lifecycles(w, 40)
	w.store.batch = 100 // three catch-up deliveries or more
	p := newOverlapSpy(w.store.batch)
	catchUp(t, d, w.store, nil, wrap(p))

	if !p.overlap {
		t.Errorf("the second delivery was not prepared while the first was flushed")
	}
	if len(p.mismatch) > 0 {
		t.Errorf("events handled with another event's preparation: %v", p.mismatch)
	}
	if n := w.store.len(); len(p.handled) != n {
		t.Fatalf("%d events handled, want %d", len(p.handled), n)
	}
	for i, c := range p.handled {
		if c != cursorAt(i+1) {
			t.Fatalf("event %d handled at %s: out of order", i+1, c)
		}
	}
}
