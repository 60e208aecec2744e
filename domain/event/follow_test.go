package event_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// guard bounds waits in these tests; it only fires on a hang, and a hang should fail
// fast rather than look like a slow test.
const guard = 5 * time.Second

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestNotifierWakesEveryWaiter(t *testing.T) {
	var n event.Notifier
	waits := []<-chan struct{}{n.Wait(), n.Wait(), n.Wait()}
	n.Notify()
	for i, w := range waits {
		if !closed(w) {
			t.Fatalf("waiter %d not woken", i)
		}
	}
}

func TestNotifierWaitTakenBeforeANotifyIsWokenByIt(t *testing.T) {
	var n event.Notifier
	before := n.Wait()
	// ...the waiter looks for events here and finds none, then a commit lands...
	n.Notify()
	if !closed(before) {
		t.Fatal("a Notify after Wait did not close the channel: the wake-up is lost")
	}
}

func TestNotifierWaitTakenAfterANotifyWaitsForTheNextOne(t *testing.T) {
	var n event.Notifier
	n.Notify() // nobody waiting: nothing to remember
	after := n.Wait()
	if closed(after) {
		t.Fatal("Wait returned a closed channel though nothing happened since")
	}
	n.Notify()
	if !closed(after) {
		t.Fatal("the next Notify did not close the channel")
	}
}

// fakeLog is an in-memory all-stream: position i+1 is events[i].
type fakeLog struct {
	mu     sync.Mutex
	events []event.Recorded
	notify event.Notifier
}

// add appends n events and wakes the followers.
func (l *fakeLog) add(n int) {
	for range n {
		l.addUnannounced()
	}
	l.notify.Notify()
}

// addUnannounced appends one event and wakes no one, as a commit nobody notified of;
// it returns the event's ID.
func (l *fakeLog) addUnannounced() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := strconv.Itoa(len(l.events) + 1)
	l.events = append(l.events, event.Recorded{ID: id, Position: event.Cursor(id)})
	return id
}

func (l *fakeLog) read(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := 0
	if after != event.Start {
		from, _ = strconv.Atoi(string(after))
	}
	end := min(from+max, len(l.events))
	return append([]event.Recorded(nil), l.events[from:end]...), nil
}

// follow runs f.Follow in a goroutine, sending each batch's IDs on the returned channel.
func follow(ctx context.Context, f event.Follower, after event.Cursor) (<-chan []string, <-chan error) {
	batches := make(chan []string, 100)
	done := make(chan error, 1)
	go func() {
		done <- f.Follow(ctx, after, func(_ context.Context, batch []event.Recorded) error {
			ids := make([]string, len(batch))
			for i, e := range batch {
				ids[i] = e.ID
			}
			batches <- ids
			return nil
		})
	}()
	return batches, done
}

func receive(t *testing.T, batches <-chan []string) []string {
	t.Helper()
	select {
	case b := <-batches:
		return b
	case <-time.After(guard):
		t.Fatal("no batch delivered")
		return nil
	}
}

func TestFollowCatchesUpInBatchesThenDeliversWhatIsWoken(t *testing.T) {
	var l fakeLog
	l.add(7)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	batches, done := follow(ctx, event.Follower{Read: l.read, Wake: l.notify.Wait, Poll: time.Hour, Batch: 3}, event.Start)
	for _, want := range [][]string{{"1", "2", "3"}, {"4", "5", "6"}, {"7"}} {
		if got := receive(t, batches); !slices.Equal(got, want) {
			t.Fatalf("got batch %v, want %v", got, want)
		}
	}
	l.add(2) // with an hour's poll, only the wake-up can deliver these
	if got := receive(t, batches); !slices.Equal(got, []string{"8", "9"}) {
		t.Fatalf("got live batch %v, want [8 9]", got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v, want context.Canceled", err)
	}
}

func TestFollowStartsAfterTheCursor(t *testing.T) {
	var l fakeLog
	l.add(5)
	batches, _ := follow(t.Context(), event.Follower{Read: l.read, Wake: l.notify.Wait}, "3")
	if got := receive(t, batches); !slices.Equal(got, []string{"4", "5"}) {
		t.Fatalf("got %v, want [4 5]", got)
	}
}

func TestFollowWithoutWakeUpsPolls(t *testing.T) {
	var l fakeLog
	batches, _ := follow(t.Context(), event.Follower{Read: l.read, Poll: time.Millisecond}, event.Start)
	l.addUnannounced() // ID "1"
	if got := receive(t, batches); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("got %v, want [1]", got)
	}
}

func TestFollowWithoutWakeUpsKeepsPollingAfterTheFirstPoll(t *testing.T) {
	var l fakeLog
	batches, _ := follow(t.Context(), event.Follower{Read: l.read, Poll: time.Millisecond}, event.Start)
	for i := 1; i <= 3; i++ {
		id := l.addUnannounced()
		if got := receive(t, batches); !slices.Equal(got, []string{id}) {
			t.Fatalf("append %d: got %v, want [%s]", i, got, id)
		}
	}
}

func TestFollowRetriesTransientReadErrorsAndReportsThem(t *testing.T) {
	var l fakeLog
	l.add(2)
	failures := 3
	var mu sync.Mutex
	var reported []error
	flaky := func(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return nil, errors.New("disk I/O error")
		}
		return l.read(ctx, after, max)
	}
	f := event.Follower{
		Read:       flaky,
		Wake:       l.notify.Wait,
		MaxBackoff: time.Millisecond,
		OnError: func(err error) {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		},
	}
	batches, _ := follow(t.Context(), f, event.Start)
	if got := receive(t, batches); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("got %v, want [1 2]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 3 {
		t.Fatalf("OnError told of %d errors, want 3", len(reported))
	}
}

func TestFollowReturnsInvalidCursorErrorsAtOnce(t *testing.T) {
	invalid := domain.Errorf(domain.EINVALID, "malformed cursor")
	read := func(context.Context, event.Cursor, int) ([]event.Recorded, error) { return nil, invalid }
	err := event.Follower{Read: read}.Follow(t.Context(), "x", func(context.Context, []event.Recorded) error {
		t.Error("handler called")
		return nil
	})
	if !errors.Is(err, invalid) {
		t.Fatalf("Follow returned %v, want the EINVALID read error", err)
	}
}

func TestFollowReturnsTheHandlersError(t *testing.T) {
	var l fakeLog
	l.add(1)
	stop := errors.New("stop")
	err := event.Follower{Read: l.read}.Follow(t.Context(), event.Start, func(context.Context, []event.Recorded) error {
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Follow returned %v, want the handler's error", err)
	}
}

func TestFollowReturnsCtxErrWhileBackingOff(t *testing.T) {
	read := func(context.Context, event.Cursor, int) ([]event.Recorded, error) {
		return nil, errors.New("database is down")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- event.Follower{Read: read, MaxBackoff: time.Hour}.Follow(ctx, event.Start,
			func(context.Context, []event.Recorded) error { return nil })
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Follow returned %v, want context.Canceled", err)
		}
	case <-time.After(guard):
		t.Fatal("Follow did not return after cancellation")
	}
}

func TestFollowNeverCallsTheHandlerWithAnEmptyBatch(t *testing.T) {
	var l fakeLog
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := event.Follower{Read: l.read, Poll: time.Millisecond}.Follow(ctx, event.Start,
		func(context.Context, []event.Recorded) error {
			t.Error("handler called with an empty log")
			return nil
		})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Follow returned %v, want context.DeadlineExceeded", err)
	}
}
