package eventstoretest

import (
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

func (s suite) testAppend(t *testing.T) {
	t.Run("to NoStream creates the stream from version 0", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		events := newEvents(3)
		res := f.append(stream, event.NoStream, events)
		if res.Version != 2 {
			t.Fatalf("AppendResult.Version = %d, want 2 (versions 0, 1, 2)", res.Version)
		}
		if res.Position == event.Start {
			t.Fatal("AppendResult.Position is empty")
		}
		got := f.readStream(stream)
		checkIDs(t, "stream", got, dataIDs(events))
		checkVersions(t, "stream", got, 0)
	})

	t.Run("to NoStream twice fails with ErrWrongExpectedVersion and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		first := newEvents(1)
		f.append(stream, event.NoStream, first)
		_, err := f.s.Append(f.ctx, stream, event.NoStream, newEvents(1))
		wantWrongVersion(t, "second append to NoStream", err)
		checkIDs(t, "stream", f.readStream(stream), dataIDs(first))
	})

	t.Run("at the current version appends after it", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a, b, c := newEvents(2), newEvents(1), newEvents(3)
		if res := f.append(stream, event.NoStream, a); res.Version != 1 {
			t.Fatalf("first append: version %d, want 1", res.Version)
		}
		if res := f.append(stream, 1, b); res.Version != 2 {
			t.Fatalf("second append: version %d, want 2", res.Version)
		}
		if res := f.append(stream, 2, c); res.Version != 5 {
			t.Fatalf("third append: version %d, want 5", res.Version)
		}
		got := f.readStream(stream)
		checkIDs(t, "stream", got, concat(a, b, c))
		checkVersions(t, "stream", got, 0)
	})

	t.Run("at a stale version fails with ErrWrongExpectedVersion and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a, b := newEvents(1), newEvents(1)
		f.append(stream, event.NoStream, a)
		f.append(stream, 0, b)
		for _, stale := range []int64{0, event.NoStream} {
			_, err := f.s.Append(f.ctx, stream, stale, newEvents(1))
			wantWrongVersion(t, "append at stale version", err)
		}
		checkIDs(t, "stream", f.readStream(stream), concat(a, b))
	})

	t.Run("at a version the stream has not reached fails with ErrWrongExpectedVersion", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		_, err := f.s.Append(f.ctx, stream, 0, newEvents(1))
		wantWrongVersion(t, "append at version 0 to a missing stream", err)
		a := newEvents(2)
		f.append(stream, event.NoStream, a)
		_, err = f.s.Append(f.ctx, stream, 5, newEvents(1))
		wantWrongVersion(t, "append at version 5 to a stream at 1", err)
		checkIDs(t, "stream", f.readStream(stream), dataIDs(a))
	})

	t.Run("with Any appends whatever the stream's version", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a, b := newEvents(2), newEvents(2)
		if res := f.append(stream, event.Any, a); res.Version != 1 {
			t.Fatalf("Any on a missing stream: version %d, want 1", res.Version)
		}
		if res := f.append(stream, event.Any, b); res.Version != 3 {
			t.Fatalf("Any on a stream at 1: version %d, want 3", res.Version)
		}
		got := f.readStream(stream)
		checkIDs(t, "stream", got, concat(a, b))
		checkVersions(t, "stream", got, 0)
	})

	t.Run("returns a position that ReadAll continues after", func(t *testing.T) {
		f := s.setup(t)
		a, b := newEvents(2), newEvents(3)
		resA := f.append(f.stream("a"), event.NoStream, a)
		resB := f.append(f.stream("b"), event.NoStream, b)
		checkIDs(t, "ReadAll after the first append's position", f.readAllMine(resA.Position, 100), dataIDs(b))
		checkIDs(t, "ReadAll after the last append's position", f.readAllMine(resB.Position, 100), nil)
	})

	t.Run("rejects malformed appends with EINVALID and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		valid := func() []event.Data { return newEvents(1) }
		with := func(change func(*event.Data)) []event.Data {
			events := newEvents(2)
			change(&events[1])
			return events
		}
		twice := newEvents(2)
		twice[1].ID = twice[0].ID
		cases := []struct {
			name     string
			stream   string
			expected int64
			events   []event.Data
		}{
			{"no events", stream, event.NoStream, nil},
			{"empty events", stream, event.Any, []event.Data{}},
			{"empty stream name", "", event.NoStream, valid()},
			{"expected version below Any", stream, event.Any - 1, valid()},
			{"event without ID", stream, event.NoStream, with(func(e *event.Data) { e.ID = "" })},
			{"event without type", stream, event.NoStream, with(func(e *event.Data) { e.Type = "" })},
			{"schema version 0", stream, event.NoStream, with(func(e *event.Data) { e.SchemaVersion = 0 })},
			{"one ID twice", stream, event.NoStream, twice},
		}
		for _, c := range cases {
			_, err := f.s.Append(f.ctx, c.stream, c.expected, c.events)
			wantCode(t, c.name, err, domain.EINVALID)
		}
		if got := f.readStream(stream); len(got) != 0 {
			t.Fatalf("rejected appends wrote %d events", len(got))
		}
	})
}

func (s suite) testIdempotentRetry(t *testing.T) {
	t.Run("at NoStream with the same IDs returns the first result and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		events := newEvents(3)
		first := f.append(stream, event.NoStream, events)
		for range 2 {
			if again := f.append(stream, event.NoStream, events); again != first {
				t.Fatalf("retry returned %+v, want the first result %+v", again, first)
			}
		}
		checkIDs(t, "stream", f.readStream(stream), dataIDs(events))
	})

	t.Run("at an exact version with the same IDs returns the first result and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a, b := newEvents(2), newEvents(2)
		f.append(stream, event.NoStream, a)
		first := f.append(stream, 1, b)
		if again := f.append(stream, 1, b); again != first {
			t.Fatalf("retry returned %+v, want the first result %+v", again, first)
		}
		checkIDs(t, "stream", f.readStream(stream), concat(a, b))
	})

	t.Run("after the stream moved on still returns the first result", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a, b, c := newEvents(1), newEvents(2), newEvents(1)
		f.append(stream, event.NoStream, a)
		first := f.append(stream, 0, b)
		f.append(stream, 2, c)
		if again := f.append(stream, 0, b); again != first {
			t.Fatalf("late retry returned %+v, want the first result %+v", again, first)
		}
		checkIDs(t, "stream", f.readStream(stream), concat(a, b, c))
	})

	t.Run("with Any and the same IDs returns the first result and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a, b, c := newEvents(1), newEvents(2), newEvents(1)
		f.append(stream, event.Any, a)
		first := f.append(stream, event.Any, b)
		f.append(stream, event.Any, c)
		if again := f.append(stream, event.Any, b); again != first {
			t.Fatalf("retry with Any returned %+v, want the first result %+v", again, first)
		}
		checkIDs(t, "stream", f.readStream(stream), concat(a, b, c))
	})

	t.Run("leaves one copy of the events in the all-stream", func(t *testing.T) {
		f := s.setup(t)
		from := f.fence()
		stream := f.stream("s")
		events := newEvents(2)
		f.append(stream, event.NoStream, events)
		f.append(stream, event.NoStream, events)
		f.append(stream, event.Any, events)
		checkIDs(t, "ReadAll", f.readAllMine(from, 100), dataIDs(events))
	})

	t.Run("with the same IDs at another expected version fails with a conflict and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a, b := newEvents(2), newEvents(1)
		f.append(stream, event.NoStream, a)
		f.append(stream, 1, b) // stream at 2

		// The stream is not at the expected version: the ordinary stale-writer answer.
		for _, expected := range []int64{0, 1, 3} {
			_, err := f.s.Append(f.ctx, stream, expected, a)
			wantWrongVersion(t, "stored IDs at a wrong expected version", err)
		}
		// The stream is at the expected version, but the IDs were stored elsewhere:
		// writing them again would duplicate events.
		_, err := f.s.Append(f.ctx, stream, 2, a)
		wantCode(t, "stored IDs at the current version", err, domain.ECONFLICT)
		_, err = f.s.Append(f.ctx, stream, 2, b)
		wantCode(t, "the last stored ID at the current version", err, domain.ECONFLICT)
		checkIDs(t, "stream", f.readStream(stream), concat(a, b))
	})

	t.Run("of a batch only partly stored fails with a conflict and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		a := newEvents(2)
		f.append(stream, event.NoStream, a)
		fresh := newEvents(1)
		cases := []struct {
			name     string
			expected int64
			events   []event.Data
		}{
			{"stored IDs then a new one at NoStream", event.NoStream, append([]event.Data{a[0], a[1]}, fresh...)},
			{"a prefix of the stored IDs then a new one at NoStream", event.NoStream, []event.Data{a[0], fresh[0]}},
			{"a new ID then a stored one at the current version", 1, []event.Data{fresh[0], a[1]}},
			{"stored IDs then a new one with Any", event.Any, append([]event.Data{a[0], a[1]}, fresh...)},
			{"stored IDs out of order with Any", event.Any, []event.Data{a[1], a[0]}},
		}
		for _, c := range cases {
			_, err := f.s.Append(f.ctx, stream, c.expected, c.events)
			wantCode(t, c.name, err, domain.ECONFLICT)
		}
		checkIDs(t, "stream", f.readStream(stream), dataIDs(a))
	})

	if s.opts.PerStreamEventIDs {
		return // see Options.PerStreamEventIDs
	}
	t.Run("of IDs stored in another stream fails with a conflict and writes nothing", func(t *testing.T) {
		f := s.setup(t)
		a := newEvents(2)
		f.append(f.stream("a"), event.NoStream, a)
		for _, expected := range []int64{event.NoStream, event.Any} {
			_, err := f.s.Append(f.ctx, f.stream("b"), expected, a)
			wantCode(t, "stored IDs in another stream", err, domain.ECONFLICT)
		}
		if got := f.readStream(f.stream("b")); len(got) != 0 {
			t.Fatalf("stream b got %d events", len(got))
		}
		checkIDs(t, "stream a", f.readStream(f.stream("a")), dataIDs(a))
	})
}
