package relay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/domain"
)

// The hub on its own, through its exported API, over the real feed.

// next reads one message with a guard against a hang.
func next(t *testing.T, s *relay.Subscription) relay.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return m
}

func TestHub_SubscribeDecidesBeforeAnyMessageWhetherTheResumeIsHonoured(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	e.lifecycle(user)
	e.waitFeed(user, 7)

	for name, tc := range map[string]struct {
		resume          relay.Resume
		resumed, resync bool
		after           int64
		first           string // first message: "#<id> <event>"
	}{
		"first connection starts at the live end": {relay.Resume{}, false, false, 7, ""},
		"resume within the feed":                  {relay.Resume{After: 3, Set: true}, true, false, 3, "#4 scan:progress"},
		"resume at the live end":                  {relay.Resume{After: 7, Set: true}, true, false, 7, ""},
		"resume from before the first message":    {relay.Resume{After: 0, Set: true}, true, false, 0, "#1 scan:uploaded"},
		"resume id the feed never had":            {relay.Resume{After: 99, Set: true}, false, true, 7, "#7 resync"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := e.hub.Subscribe(ctx, user, tc.resume, "")
			if err != nil {
				t.Fatal(err)
			}
			if s.Resumed() != tc.resumed || s.Resync() != tc.resync || s.After() != tc.after {
				t.Fatalf("resumed %v, resync %v, after %d; want %v, %v, %d", s.Resumed(), s.Resync(), s.After(), tc.resumed, tc.resync, tc.after)
			}
			if tc.first == "" {
				return
			}
			if m := next(t, s); itoa(m.ID)+" "+m.Event != tc.first[1:] {
				t.Fatalf("first message #%d %s, want %s", m.ID, m.Event, tc.first)
			}
		})
	}
}

func TestHub_ASubscriptionThatIsNotReadEndsWithErrSlowWithoutDelayingOthers(t *testing.T) {
	// A queue smaller than a scan's burst of rows: the reader falls back to the table
	// and keeps up; the subscription nobody reads lets 16 rows pass and is ended.
	e := newEnv(t, envConfig{queue: 2, maxLag: 16})
	user := domain.NewID()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck, err := e.hub.Subscribe(ctx, user, relay.Resume{}, "")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := e.hub.Subscribe(ctx, user, relay.Resume{}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan relay.Message, 64)
	go func() {
		defer close(got)
		for {
			m, err := reader.Next(ctx)
			if err != nil {
				return
			}
			got <- m
		}
	}()
	// One scan at a time, so that no burst exceeds what a reader may lag.
	id := int64(0)
	for range 4 {
		for _, w := range e.lifecycle(user) {
			id++
			select {
			case m := <-got:
				if m.ID != id || m.Event != w.Event {
					t.Fatalf("reader: got #%d %s, want #%d %s", m.ID, m.Event, id, w.Event)
				}
			case <-time.After(guard):
				t.Fatalf("reader: timed out waiting for #%d (%v)", id, reader.Err())
			}
		}
	}
	select {
	case <-stuck.Done():
	case <-time.After(guard):
		t.Fatal("the subscription nobody read is still open")
	}
	if _, err := stuck.Next(ctx); !errors.Is(err, relay.ErrSlow) || !errors.Is(stuck.Err(), relay.ErrSlow) {
		t.Fatalf("next: %v, err %v; want ErrSlow", err, stuck.Err())
	}
	if err := reader.Err(); err != nil {
		t.Fatalf("reader ended: %v", err)
	}
}

func TestHub_AReplayLongerThanTheQueueIsDeliveredWhole(t *testing.T) {
	e := newEnv(t, envConfig{queue: 4})
	user := domain.NewID()
	for range 5 {
		e.lifecycle(user)
	}
	e.waitFeed(user, 35)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := e.hub.Subscribe(ctx, user, relay.Resume{After: 0, Set: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 35; i++ {
		if m := next(t, s); m.ID != i {
			t.Fatalf("message #%d, want #%d", m.ID, i)
		}
	}
	// And it goes on live.
	e.failing(user)
	for i := int64(36); i <= 38; i++ {
		if m := next(t, s); m.ID != i {
			t.Fatalf("message #%d, want #%d", m.ID, i)
		}
	}
}

func TestHub_StoppingEndsEverySubscriptionWithErrClosed(t *testing.T) {
	e := newEnv(t, envConfig{})
	hub := &relay.Hub{Feed: relay.TableFeed{DB: e.read}}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- hub.Run(ctx) }()
	user := domain.NewID()
	s, err := hub.Subscribe(context.Background(), user, relay.Resume{}, "")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	<-ran
	if _, err := s.Next(context.Background()); !errors.Is(err, relay.ErrClosed) {
		t.Fatalf("next after stop: %v, want ErrClosed", err)
	}
	if _, err := hub.Subscribe(context.Background(), user, relay.Resume{}, ""); !errors.Is(err, relay.ErrClosed) {
		t.Fatalf("subscribe after stop: %v, want ErrClosed", err)
	}
	eventually(t, 10*time.Second, "no subscriptions after stop", func() bool { return hub.Subscribers() == 0 })
}
