package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/event"
)

func (s suite) testConcurrency(t *testing.T) {
	t.Run("appenders at one expected version: exactly one wins per version", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		n := f.opts.Contenders
		var winners []string
		for round := range f.opts.Rounds {
			expected := int64(round) - 1 // NoStream first, then each version in turn
			var (
				mu    sync.Mutex
				won   []string
				ready sync.WaitGroup
				start = make(chan struct{})
			)
			attempts := make([][]event.Data, n)
			for i := range attempts {
				attempts[i] = newEvents(1)
			}
			// Release every appender at once, for the best chance of a real race.
			ready.Add(n)
			go func() { ready.Wait(); close(start) }()
			f.run(n, func(i int) {
				ready.Done()
				<-start
				res, err := f.s.Append(f.ctx, stream, expected, attempts[i])
				f.tick()
				switch {
				case err == nil:
					if res.Version != expected+1 {
						t.Errorf("round %d: winner got version %d, want %d", round, res.Version, expected+1)
					}
					mu.Lock()
					won = append(won, attempts[i][0].ID)
					mu.Unlock()
				case !errors.Is(err, event.ErrWrongExpectedVersion):
					t.Errorf("round %d: loser got %v, want ErrWrongExpectedVersion", round, err)
				}
			})
			if len(won) != 1 {
				t.Fatalf("round %d: %d of %d appenders at expected version %d won, want exactly 1", round, len(won), n, expected)
			}
			winners = append(winners, won[0])
		}
		got := f.readStream(stream)
		checkIDs(t, "stream after the rounds", got, winners)
		checkVersions(t, "stream after the rounds", got, 0)
	})

	t.Run("many writers and subscribers: no event skipped or duplicated", s.testManyWriters)
}

// testManyWriters lets writers append to their own streams and to shared ones (with
// Any, and with exact versions retried on conflict) while subscribers follow the
// all-stream from before the first write: one plain, one slow, one that keeps
// stopping and resuming from its last position, and one that starts halfway and
// catches up. Each must see every event
// exactly once, in the order ReadAll reports, with each stream's versions in order.
func (s suite) testManyWriters(t *testing.T) {
	f := s.setup(t)
	from := f.fence()

	slow := func(context.Context, []event.Recorded) error {
		// A slow consumer makes the store batch up catch-up reads under load.
		time.Sleep(time.Millisecond)
		return nil
	}
	subs := []*subscription{
		f.subscribe(from, nil),
		f.subscribe(from, slow),
	}
	resumer := f.resumingSubscriber(from)

	var (
		mu       sync.Mutex
		appended = map[string]bool{} // every ID whose append succeeded
	)
	record := func(events []event.Data) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			appended[e.ID] = true
		}
	}
	shared := []string{f.stream("shared-any-0"), f.stream("shared-any-1")}
	contended := []string{
		f.stream("shared-exact-0"), f.stream("shared-exact-1"),
		f.stream("shared-exact-2"), f.stream("shared-exact-3"),
	}

	var late *subscription // started by writer 0 halfway, read after all writers end
	f.run(f.opts.Writers, func(w int) {
		own := f.stream(fmt.Sprintf("writer-%d", w))
		version := event.NoStream
		for i := range f.opts.AppendsPerWriter {
			if w == 0 && i == f.opts.AppendsPerWriter/2 {
				late = f.subscribe(from, nil)
			}
			events := newEvents(1 + (w+i)%3)
			switch i % 3 {
			case 0:
				res, err := f.s.Append(f.ctx, own, version, events)
				if err != nil {
					t.Errorf("writer %d: append to its own stream: %v", w, err)
					return
				}
				version = res.Version
			case 1:
				if _, err := f.s.Append(f.ctx, shared[(w+i)%len(shared)], event.Any, events); err != nil {
					t.Errorf("writer %d: append with Any: %v", w, err)
					return
				}
			case 2:
				if err := appendWithRetry(f, contended[(w+i)%len(contended)], events); err != nil {
					t.Errorf("writer %d: append at an exact version: %v", w, err)
					return
				}
			}
			record(events)
			f.tick()
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	subs = append(subs, late)

	// Everything before the marker has committed; a subscriber that saw the marker
	// has seen all of it.
	marker := newEvents(1)
	f.append(f.stream("marker"), event.NoStream, marker)
	want := f.without("marker", f.readAllMine(from, 97))
	if len(want) != len(appended) {
		t.Fatalf("ReadAll has %d of this test's events, %d were appended", len(want), len(appended))
	}
	checkStreams(t, "ReadAll", want, appended)
	wantIDs := recordedIDs(want)

	for i, sub := range subs {
		got := f.without("marker", sub.waitForID(marker[0].ID))
		checkIDs(t, fmt.Sprintf("subscriber %d", i), got, wantIDs)
	}
	got := f.without("marker", resumer.waitForID(marker[0].ID))
	checkIDs(t, "resuming subscriber", got, wantIDs)
}

// appendWithRetry appends at the stream's current version, re-reading it after each
// conflict, as a command handler does.
func appendWithRetry(f *fixture, stream string, events []event.Data) error {
	version := event.NoStream
	for attempt := 0; ; attempt++ {
		_, err := f.s.Append(f.ctx, stream, version, events)
		if !errors.Is(err, event.ErrWrongExpectedVersion) {
			return err
		}
		if attempt > 1000 {
			return fmt.Errorf("still conflicting after %d attempts: %w", attempt, err)
		}
		tail, err := f.s.ReadStream(f.ctx, stream, version+1, 1000)
		if err != nil {
			return err
		}
		f.tick()
		if len(tail) > 0 {
			version = tail[len(tail)-1].Version
		}
	}
}

// checkStreams fails the test unless events hold every appended ID exactly once and
// each stream's events are versions 0, 1, 2... in order.
func checkStreams(t *testing.T, what string, events []event.Recorded, appended map[string]bool) {
	t.Helper()
	seen := make(map[string]bool, len(events))
	next := map[string]int64{}
	for _, e := range events {
		if seen[e.ID] {
			t.Fatalf("%s: event %s twice", what, e.ID)
		}
		seen[e.ID] = true
		if !appended[e.ID] {
			t.Fatalf("%s: event %s was never appended", what, e.ID)
		}
		if e.Version != next[e.StreamID] {
			t.Fatalf("%s: stream %s: version %d follows %d", what, e.StreamID, e.Version, next[e.StreamID]-1)
		}
		next[e.StreamID]++
	}
}

// resumingSubscriber follows the all-stream but stops after every few batches and
// subscribes again from the last position it was given, as a projection restarting
// from its checkpoint does.
func (f *fixture) resumingSubscriber(from event.Cursor) *collector {
	ctx, cancel := context.WithCancel(f.ctx)
	c := newCollector(f)
	errResume := errors.New("stop and resume")
	go func() {
		defer close(c.done)
		cursor := from
		for {
			batches := 0
			err := f.s.Subscribe(ctx, cursor, func(_ context.Context, batch []event.Recorded) error {
				c.collect(batch)
				if len(batch) == 0 {
					return nil // collect flagged it
				}
				cursor = batch[len(batch)-1].Position
				if batches++; batches == 3 {
					return errResume
				}
				return nil
			})
			if !errors.Is(err, errResume) {
				c.err = err
				return
			}
		}
	}()
	f.t.Cleanup(func() {
		cancel()
		c.wait()
	})
	return c
}
