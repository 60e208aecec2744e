// Package eventstoretest is the conformance suite for event.Store: every adapter runs
// it from its own tests, so "implements event.Store" means the same thing on SQLite,
// PostgreSQL and KurrentDB.
//
//	func TestStore(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) event.Store { return newTestStore(t) })
//	}
//
// newStore is called once per test, from that test, which runs in parallel with the
// others. It may return a fresh store each time or one shared store: every test works
// on streams named with its own random tag and ignores everyone else's events, so the
// all-stream may hold anything when a test starts. It should stay small enough to walk
// from the start a few times per test, though.
//
// Beyond the event.Store doc comment, the suite pins these behaviours:
//
//   - Malformed appends (empty events, empty stream name, an event without ID or type,
//     a schema version below 1, one ID twice in an append, an expected version below
//     event.Any) fail with a domain.EINVALID error and write nothing.
//   - Idempotent retry: an append whose events are all stored already, in order, right
//     after the expected version (anywhere in the stream for event.Any), returns the
//     result of the append that stored them and writes nothing, even after the stream
//     moved on. Any other append that carries an already-stored event ID fails with a
//     domain.ECONFLICT error and writes nothing: ErrWrongExpectedVersion when the
//     stream is not at the expected version, any ECONFLICT error otherwise. Event IDs
//     are unique in the whole store, not only per stream.
//   - AppendResult.Position is a cursor that ReadAll and Subscribe continue after: every
//     event of that append lies at or before it, every event appended after Append
//     returned lies after it.
//   - Subscribe never calls the handler with an empty batch, and returns an error
//     satisfying errors.Is(err, context.Canceled) promptly after cancellation.
//
// Waits are bounded by Options.Timeout only as a guard against hangs; no assertion
// depends on how fast anything happens.
package eventstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// Options tunes the suite for an engine. The zero value gives the defaults.
type Options struct {
	// Timeout is how long a wait may see no progress at all (no batch delivered, no
	// append finished) before the test fails: a guard against hangs, never a
	// performance check. Default 20s.
	Timeout time.Duration
	// Writers and AppendsPerWriter size the many-writers test. Defaults 16 and 25.
	Writers          int
	AppendsPerWriter int
	// Contenders and Rounds size the exact-concurrency test: Contenders goroutines
	// append at the same expected version, Rounds times. Defaults 8 and 5.
	Contenders int
	Rounds     int
	// PerStreamEventIDs declares a store whose event ids are unique per stream only
	// (KurrentDB: it has no index by id across streams and no multi-stream
	// transactions). The one case that needs store-wide uniqueness — reusing ids stored
	// in another stream is a conflict — is then not run; every other case still is.
	PerStreamEventIDs bool
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.Writers <= 0 {
		o.Writers = 16
	}
	if o.AppendsPerWriter <= 0 {
		o.AppendsPerWriter = 25
	}
	if o.Contenders <= 0 {
		o.Contenders = 8
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	return o
}

// Run runs the whole suite with default Options.
func Run(t *testing.T, newStore func(t *testing.T) event.Store) {
	RunWithOptions(t, newStore, Options{})
}

// RunWithOptions runs the whole suite.
func RunWithOptions(t *testing.T, newStore func(t *testing.T) event.Store, opts Options) {
	s := suite{newStore: newStore, opts: opts.withDefaults()}
	t.Run("Append", s.testAppend)
	t.Run("IdempotentRetry", s.testIdempotentRetry)
	t.Run("Concurrency", s.testConcurrency)
	t.Run("ReadStream", s.testReadStream)
	t.Run("ReadAll", s.testReadAll)
	t.Run("Subscribe", s.testSubscribe)
}

type suite struct {
	newStore func(t *testing.T) event.Store
	opts     Options
}

// fixture is one test's view of the store: its streams all start with tag, so it can
// tell its own events from those of tests sharing the store.
type fixture struct {
	t      *testing.T
	s      event.Store
	ctx    context.Context // cancelled when the test ends, or to stop its goroutines
	cancel context.CancelFunc
	tag    string
	opts   Options
	// progress counts finished operations of goroutines started by run, so that its
	// guard fails on a stall, never on a slow but moving machine.
	progress atomic.Int64
}

// setup marks the test parallel and gives it a store and a fresh tag.
func (s suite) setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return &fixture{
		t:      t,
		s:      s.newStore(t),
		ctx:    ctx,
		cancel: cancel,
		tag:    "test-" + domain.NewID()[:8],
		opts:   s.opts,
	}
}

// stream names a stream of this test.
func (f *fixture) stream(name string) string { return f.tag + "-" + name }

// mine reports whether e belongs to one of this test's streams.
func (f *fixture) mine(e event.Recorded) bool { return strings.HasPrefix(e.StreamID, f.tag+"-") }

// newEvents returns n events with fresh IDs and distinct, valid JSON payloads.
func newEvents(n int) []event.Data {
	events := make([]event.Data, n)
	for i := range events {
		id := domain.NewID()
		meta, _ := json.Marshal(event.Metadata{EventID: id, OccurredAt: time.Now().UTC(), SchemaVersion: 1})
		events[i] = event.Data{
			ID:            id,
			Type:          "TestEvent",
			SchemaVersion: 1,
			Data:          fmt.Appendf(nil, `{"n":%d,"id":%q}`, i, id),
			Metadata:      meta,
		}
	}
	return events
}

// append appends or fails the test.
func (f *fixture) append(stream string, expected int64, events []event.Data) event.AppendResult {
	f.t.Helper()
	res, err := f.s.Append(f.ctx, stream, expected, events)
	if err != nil {
		f.t.Fatalf("Append(%s, expected %d, %d events): %v", stream, expected, len(events), err)
	}
	return res
}

// fence appends one event to a new stream of this test and returns its position: a
// cursor that everything appended afterwards comes after, so a test need not walk the
// whole all-stream of a shared store.
func (f *fixture) fence() event.Cursor {
	f.t.Helper()
	return f.append(f.stream("fence-"+domain.NewID()[:8]), event.NoStream, newEvents(1)).Position
}

// readStream reads a whole stream, or fails the test.
func (f *fixture) readStream(stream string) []event.Recorded {
	f.t.Helper()
	got, err := f.s.ReadStream(f.ctx, stream, 0, 1_000_000)
	if err != nil {
		f.t.Fatalf("ReadStream(%s): %v", stream, err)
	}
	return got
}

// readAllMine walks the all-stream after the cursor to its end, page by page, and
// returns this test's events among them.
func (f *fixture) readAllMine(after event.Cursor, page int) []event.Recorded {
	f.t.Helper()
	var mine []event.Recorded
	for {
		got, err := f.s.ReadAll(f.ctx, after, page)
		if err != nil {
			f.t.Fatalf("ReadAll(after %q, %d): %v", after, page, err)
		}
		if len(got) > page {
			f.t.Fatalf("ReadAll(after %q, %d) returned %d events", after, page, len(got))
		}
		if len(got) == 0 {
			return mine
		}
		for _, e := range got {
			if f.mine(e) {
				mine = append(mine, e)
			}
		}
		next := got[len(got)-1].Position
		if next == after {
			f.t.Fatalf("ReadAll(after %q) returned events ending at the same cursor", after)
		}
		after = next
	}
}

// without drops the events of streams starting with prefix (this test's fences).
func (f *fixture) without(prefix string, events []event.Recorded) []event.Recorded {
	var out []event.Recorded
	for _, e := range events {
		if !strings.HasPrefix(e.StreamID, f.stream(prefix)) {
			out = append(out, e)
		}
	}
	return out
}

func dataIDs(events []event.Data) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

func recordedIDs(events []event.Recorded) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// checkIDs fails the test unless got holds exactly the want IDs, in order.
func checkIDs(t *testing.T, what string, got []event.Recorded, want []string) {
	t.Helper()
	if g := recordedIDs(got); !slices.Equal(g, want) {
		t.Fatalf("%s: got %d events %v, want %d %v", what, len(g), g, len(want), want)
	}
}

// checkVersions fails the test unless events are versions from, from+1, ... in order.
func checkVersions(t *testing.T, what string, events []event.Recorded, from int64) {
	t.Helper()
	for i, e := range events {
		if e.Version != from+int64(i) {
			t.Fatalf("%s: event %d (%s) has version %d, want %d", what, i, e.ID, e.Version, from+int64(i))
		}
	}
}

func concat(batches ...[]event.Data) []string {
	var ids []string
	for _, b := range batches {
		ids = append(ids, dataIDs(b)...)
	}
	return ids
}

// wantCode fails the test unless err carries the domain error code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %s", what, code)
	}
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("%s: got error %v (code %s), want code %s", what, err, got, code)
	}
}

// wantWrongVersion fails the test unless err is ErrWrongExpectedVersion.
func wantWrongVersion(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, event.ErrWrongExpectedVersion) {
		t.Fatalf("%s: got error %v, want ErrWrongExpectedVersion", what, err)
	}
}

// run runs fn in n goroutines and waits for them. fn calls f.tick after each
// operation; if no goroutine ticks for Options.Timeout, run cancels f.ctx, waits for
// the goroutines to give up (so none outlives the test) and fails the test.
func (f *fixture) run(n int, fn func(i int)) {
	f.t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	guard := time.NewTicker(f.opts.Timeout)
	defer guard.Stop()
	last := f.progress.Load()
	for {
		select {
		case <-done:
			return
		case <-guard.C:
			if now := f.progress.Load(); now != last {
				last = now
				continue
			}
			f.t.Errorf("%d goroutines made no progress for %v", n, f.opts.Timeout)
			f.cancel()
			<-done
			f.t.FailNow()
		}
	}
}

// tick records progress for run's guard.
func (f *fixture) tick() { f.progress.Add(1) }
