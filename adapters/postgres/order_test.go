package postgres_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/scanledger/scanledger/domain/event"
)

// Writers racing to append to one stream take versions in the order they get the
// stream, and the all-stream must list a stream's events in version order. A
// transaction id is handed out when a transaction first writes, and a writer that
// races to create a stream writes (and gets its id) before it learns another writer
// created it first and queues behind it; writers arriving later take their ids after
// the row is theirs. Many rounds of writers released at once onto a fresh stream make
// that race likely.
func TestRacingAppendsToOneStreamKeepTheirOrderInTheAllStream(t *testing.T) {
	const rounds, writers = 60, 12
	ctx := t.Context()
	s := openStore(t, newDatabase(t, writers+4))
	for r := range rounds {
		stream := fmt.Sprintf("race-%d", r)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				<-start
				if _, err := s.Append(ctx, stream, event.Any, newEvents(1)); err != nil {
					t.Errorf("append: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	next := map[string]int64{}
	for _, e := range readAll(t, s, "") {
		if e.Version != next[e.StreamID] {
			t.Fatalf("ReadAll: stream %s: version %d follows %d", e.StreamID, e.Version, next[e.StreamID]-1)
		}
		next[e.StreamID]++
	}
	for r := range rounds {
		if n := next[fmt.Sprintf("race-%d", r)]; n != writers {
			t.Fatalf("stream race-%d has %d events, want %d", r, n, writers)
		}
	}
}
