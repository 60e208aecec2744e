package relay_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/relay"
)

// The hub over a feed whose rows the test places one by one, to reach the orders a
// real database produces only under concurrency: a row visible to the tail before
// earlier rows of the same user, rows pruned while a client is behind, a burst larger
// than a subscription's queue.

// stagedFeed is a relay.Feed whose table (what ReadUser and Bounds see) and tail (what
// the hub's Tail sees) the test sets apart.
type stagedFeed struct {
	mu    sync.Mutex
	table []relay.Item // one user's rows in Seq order
	tail  []relay.Item // in ID order
	tails int          // Tail calls that returned rows
	reads int          // ReadUser calls
}

const stagedUser = "u1"

func (f *stagedFeed) item(seq int64) relay.Item {
	return relay.Item{ID: seq, UserID: stagedUser, Seq: seq, ScanID: "s1", Event: "scan:progress", Payload: []byte(`{}`)}
}

// commit adds rows with these sequences to the table, and shows the tail the ones in
// visible, in that order (a row the tail shows twice stands for one that reached the
// hub again).
func (f *stagedFeed) commit(seqs []int64, visible ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range seqs {
		f.table = append(f.table, f.item(s))
	}
	for _, s := range visible {
		it := f.item(s)
		it.ID = int64(len(f.tail) + 1)
		f.tail = append(f.tail, it)
	}
}

// prune drops table rows up to seq.
func (f *stagedFeed) prune(seq int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.table = slices.DeleteFunc(f.table, func(it relay.Item) bool { return it.Seq <= seq })
}

func (f *stagedFeed) Tail(_ context.Context, afterID int64, limit int) ([]relay.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []relay.Item
	for _, it := range f.tail {
		if it.ID > afterID && len(out) < limit {
			out = append(out, it)
		}
	}
	if len(out) > 0 {
		f.tails++
	}
	return out, nil
}

func (f *stagedFeed) LastID(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tail) == 0 {
		return 0, nil
	}
	return f.tail[len(f.tail)-1].ID, nil
}

func (f *stagedFeed) ReadUser(_ context.Context, userID string, afterSeq int64, limit int) ([]relay.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	var out []relay.Item
	for _, it := range f.table {
		if it.UserID == userID && it.Seq > afterSeq && len(out) < limit {
			out = append(out, it)
		}
	}
	return out, nil
}

func (f *stagedFeed) Bounds(context.Context, string) (int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.table) == 0 {
		return 0, 0, nil
	}
	return f.table[0].Seq, f.table[len(f.table)-1].Seq, nil
}

func (f *stagedFeed) tableReads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *stagedFeed) tailed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tails
}

// stagedHub runs a hub over f and subscribes to the user's feed from its live end.
func stagedHub(t *testing.T, f *stagedFeed, queue int) (*relay.Hub, *relay.Subscription) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hub := &relay.Hub{Feed: f, Poll: time.Hour, Queue: queue}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	s, err := hub.Subscribe(ctx, stagedUser, relay.Resume{}, "")
	if err != nil {
		t.Fatal(err)
	}
	return hub, s
}

// dispatched wakes the hub and waits until it handed out the tail's new rows.
func dispatched(t *testing.T, hub *relay.Hub, f *stagedFeed) {
	t.Helper()
	before := f.tailed()
	hub.Wake()
	eventually(t, guard, "the hub to read the tail", func() bool { return f.tailed() > before })
}

// ids reads n messages and returns them as "#id event".
func ids(t *testing.T, s *relay.Subscription, n int) []string {
	t.Helper()
	var out []string
	for range n {
		m := next(t, s)
		out = append(out, "#"+itoa(m.ID)+" "+m.Event)
	}
	return out
}

func TestHub_ALiveRowThatOvertakesEarlierRowsIsDeliveredAfterThemFromTheTable(t *testing.T) {
	f := &stagedFeed{}
	f.commit([]int64{1}, 1)
	hub, s := stagedHub(t, f, 16)
	// Row 2 is committed, but the tail shows 3 first.
	f.commit([]int64{2, 3}, 3)
	dispatched(t, hub, f)
	if got, want := ids(t, s, 2), []string{"#2 scan:progress", "#3 scan:progress"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// When the tail shows 2 and 3 at last, they are not sent again.
	f.commit(nil, 2, 3)
	f.commit([]int64{4}, 4)
	dispatched(t, hub, f)
	if got, want := ids(t, s, 1), []string{"#4 scan:progress"}; !slices.Equal(got, want) {
		t.Fatalf("after the late rows: got %v, want %v", got, want)
	}
	// Two rows overtaken at once.
	f.commit([]int64{5, 6, 7}, 7)
	dispatched(t, hub, f)
	if got, want := ids(t, s, 3), []string{"#5 scan:progress", "#6 scan:progress", "#7 scan:progress"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestHub_RowsPrunedBeforeTheClientGotThemAreAnnouncedWithAResync(t *testing.T) {
	f := &stagedFeed{}
	f.commit([]int64{1}, 1)
	hub, s := stagedHub(t, f, 16)
	f.commit([]int64{2, 3, 4}, 4)
	f.prune(3)
	dispatched(t, hub, f)
	want := []string{"#3 resync", "#4 scan:progress"}
	if got := ids(t, s, 2); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v: the client must learn that 2 and 3 are gone", got, want)
	}
}

func TestHub_ABurstLargerThanTheQueueIsReadFromTheTableWhole(t *testing.T) {
	f := &stagedFeed{}
	hub, s := stagedHub(t, f, 4)
	reads := f.tableReads()
	// One commit of five rows while nobody reads: only four fit in the queue.
	seqs := []int64{1, 2, 3, 4, 5}
	f.commit(seqs, seqs...)
	dispatched(t, hub, f)
	var want []string
	for _, seq := range seqs {
		want = append(want, "#"+itoa(seq)+" scan:progress")
	}
	if got := ids(t, s, len(seqs)); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("the subscription ended: %v", err)
	}
	if f.tableReads() == reads {
		t.Error("a burst larger than the queue was held in memory instead of read from the table")
	}
}

func TestHub_ABurstThatFitsTheQueueIsDeliveredWithoutReadingTheTable(t *testing.T) {
	f := &stagedFeed{}
	hub, s := stagedHub(t, f, 4)
	reads := f.tableReads()
	f.commit([]int64{1, 2, 3, 4}, 1, 2, 3, 4)
	dispatched(t, hub, f)
	if got := ids(t, s, 4); len(got) != 4 || got[3] != "#4 scan:progress" {
		t.Fatalf("got %v, want #1 to #4", got)
	}
	if n := f.tableReads() - reads; n != 0 {
		t.Errorf("the table was read %d times for rows that fit the queue", n)
	}
}

func TestHub_ClosedSubscriptionsLeaveNothingRegistered(t *testing.T) {
	f := &stagedFeed{}
	hub, first := stagedHub(t, f, 4)
	second, err := hub.Subscribe(context.Background(), stagedUser, relay.Resume{}, "")
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	first.Close()
	eventually(t, guard, "one subscription left", func() bool { return hub.Subscribers() == 1 })
	second.Close()
	eventually(t, guard, "no subscription left", func() bool { return hub.Subscribers() == 0 })
}
