package sqlite

import (
	"context"
	"testing"
	"time"
)

// A commit that panics must still answer its group and hand the lead on: otherwise
// every later append would wait forever for a group that never ends.
func TestAPanickingCommitDoesNotBlockLaterAppends(t *testing.T) {
	var c committer
	newAppend := func() *pendingAppend {
		return &pendingAppend{ctx: context.Background(), done: make(chan struct{}), lead: make(chan struct{})}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the commit's panic did not reach its caller")
			}
		}()
		c.enqueue(newAppend(), func([]*pendingAppend) { panic("injected") })
	}()

	later := newAppend()
	answered := make(chan struct{})
	go func() {
		c.enqueue(later, func(group []*pendingAppend) {})
		close(answered)
	}()
	select {
	case <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("an append after a panicking commit is still waiting")
	}
	if later.err != nil {
		t.Fatalf("append after a panicking commit: %v", later.err)
	}
}
