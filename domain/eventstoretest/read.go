package eventstoretest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

func (s suite) testReadStream(t *testing.T) {
	// appendSix writes six events to one stream in three appends of 2, 3 and 1.
	appendSix := func(f *fixture, stream string) []string {
		a, b, c := newEvents(2), newEvents(3), newEvents(1)
		f.append(stream, event.NoStream, a)
		f.append(stream, 1, b)
		f.append(stream, 4, c)
		return concat(a, b, c)
	}

	t.Run("returns the stream's events in version order", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		f.append(f.stream("other"), event.NoStream, newEvents(2))
		want := appendSix(f, stream)
		f.append(f.stream("other"), 1, newEvents(2))
		got := f.readStream(stream)
		checkIDs(t, "ReadStream", got, want)
		checkVersions(t, "ReadStream", got, 0)
		for _, e := range got {
			if e.StreamID != stream {
				t.Fatalf("event %s has StreamID %q, want %q", e.ID, e.StreamID, stream)
			}
		}
	})

	t.Run("from a version starts at that version", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		want := appendSix(f, stream)
		for from := int64(0); from <= 6; from++ {
			got, err := f.s.ReadStream(f.ctx, stream, from, 100)
			if err != nil {
				t.Fatalf("ReadStream(from %d): %v", from, err)
			}
			checkIDs(t, "ReadStream from a version", got, want[from:])
			checkVersions(t, "ReadStream from a version", got, from)
		}
	})

	t.Run("returns at most max events, so callers can page", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		want := appendSix(f, stream)
		for _, page := range []int{1, 2, 4, 6, 7} {
			var all []event.Recorded
			for from := int64(0); ; {
				got, err := f.s.ReadStream(f.ctx, stream, from, page)
				if err != nil {
					t.Fatalf("ReadStream(from %d, max %d): %v", from, page, err)
				}
				if len(got) > page {
					t.Fatalf("ReadStream(max %d) returned %d events", page, len(got))
				}
				if len(got) == 0 {
					break
				}
				// Also keeps a store that ignores from from paging forever.
				checkVersions(t, "a page of ReadStream", got, from)
				all = append(all, got...)
				from = got[len(got)-1].Version + 1
			}
			checkIDs(t, "pages of ReadStream", all, want)
			checkVersions(t, "pages of ReadStream", all, 0)
		}
	})

	t.Run("past the end is empty", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		appendSix(f, stream)
		got, err := f.s.ReadStream(f.ctx, stream, 6, 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("ReadStream past the end = %d events, %v; want none, no error", len(got), err)
		}
	})

	t.Run("of an unknown stream is empty, not an error", func(t *testing.T) {
		f := s.setup(t)
		got, err := f.s.ReadStream(f.ctx, f.stream("never-written"), 0, 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("ReadStream of an unknown stream = %d events, %v; want none, no error", len(got), err)
		}
	})

	t.Run("a non-positive max or a negative from is EINVALID", func(t *testing.T) {
		f := s.setup(t)
		_, err := f.s.ReadStream(f.ctx, f.stream("a"), 0, 0)
		wantCode(t, "ReadStream(max 0)", err, domain.EINVALID)
		_, err = f.s.ReadStream(f.ctx, f.stream("a"), -1, 10)
		wantCode(t, "ReadStream(from -1)", err, domain.EINVALID)
	})

	t.Run("round-trips every field exactly", func(t *testing.T) {
		f := s.setup(t)
		stream := f.stream("s")
		sent := roundTripEvents()
		before := time.Now()
		f.append(stream, event.NoStream, sent)
		after := time.Now()

		fromStream := f.readStream(stream)
		checkIDs(t, "ReadStream", fromStream, dataIDs(sent))
		for i, e := range fromStream {
			checkRecorded(t, e, sent[i], stream, int64(i), before, after)
		}
		fromAll := f.readAllMine(event.Start, 1000)
		byID := make(map[string]event.Recorded, len(fromAll))
		for _, e := range fromAll {
			byID[e.ID] = e
		}
		for i, e := range fromStream {
			a, ok := byID[e.ID]
			if !ok {
				t.Fatalf("ReadAll misses event %s", e.ID)
			}
			checkRecorded(t, a, sent[i], stream, int64(i), before, after)
			if a.Position != e.Position || !a.RecordedAt.Equal(e.RecordedAt) {
				t.Fatalf("event %s: ReadAll gives position %q at %v, ReadStream %q at %v",
					e.ID, a.Position, a.RecordedAt, e.Position, e.RecordedAt)
			}
		}
	})
}

// roundTripEvents are payloads a careless adapter would alter: JSON with odd spacing
// and key order (a jsonb column normalises them, which breaks the hash chain),
// non-ASCII text, escapes, and a payload too large for a small fixed column.
func roundTripEvents() []event.Data {
	big, _ := json.Marshal(map[string]string{"blob": strings.Repeat("0123456789abcdef", 4096)})
	events := []event.Data{
		{
			Type:          "RoundTrip.Type-v2",
			SchemaVersion: 7,
			Data:          []byte(`{"zeta": 1,   "alpha":"é \u00e9 ☃ \"q\"",` + "\n" + `"n": [1.50, 1e3, -0, null, true]}`),
		},
		{Type: "Big", SchemaVersion: 1, Data: big},
		{Type: "EmptyObject", SchemaVersion: 2, Data: []byte(`{}`)},
	}
	for i := range events {
		events[i].ID = domain.NewID()
		events[i].Metadata = []byte(`{"eventId": "` + events[i].ID + `",  "userId":"u-ü", "extra" : {"b":2,"a":1}}`)
	}
	return events
}

func checkRecorded(t *testing.T, got event.Recorded, sent event.Data, stream string, version int64, before, after time.Time) {
	t.Helper()
	switch {
	case got.ID != sent.ID:
		t.Fatalf("ID = %q, want %q", got.ID, sent.ID)
	case got.StreamID != stream:
		t.Fatalf("event %s: StreamID = %q, want %q", sent.ID, got.StreamID, stream)
	case got.Version != version:
		t.Fatalf("event %s: Version = %d, want %d", sent.ID, got.Version, version)
	case got.Type != sent.Type:
		t.Fatalf("event %s: Type = %q, want %q", sent.ID, got.Type, sent.Type)
	case got.SchemaVersion != sent.SchemaVersion:
		t.Fatalf("event %s: SchemaVersion = %d, want %d", sent.ID, got.SchemaVersion, sent.SchemaVersion)
	case !bytes.Equal(got.Data, sent.Data):
		t.Fatalf("event %s: Data changed:\n got %.200q\nwant %.200q", sent.ID, got.Data, sent.Data)
	case !bytes.Equal(got.Metadata, sent.Metadata):
		t.Fatalf("event %s: Metadata changed:\n got %q\nwant %q", sent.ID, got.Metadata, sent.Metadata)
	case got.Position == event.Start:
		t.Fatalf("event %s: Position is empty", sent.ID)
	}
	// The store's clock may be another machine's: allow generous skew, but catch a
	// zero or unset time and gross unit mistakes.
	const skew = 10 * time.Minute
	if got.RecordedAt.Before(before.Add(-skew)) || got.RecordedAt.After(after.Add(skew)) {
		t.Fatalf("event %s: RecordedAt = %v, want about %v", sent.ID, got.RecordedAt, before)
	}
}

func (s suite) testReadAll(t *testing.T) {
	t.Run("a non-positive max is EINVALID", func(t *testing.T) {
		f := s.setup(t)
		_, err := f.s.ReadAll(f.ctx, event.Start, 0)
		wantCode(t, "ReadAll(max 0)", err, domain.EINVALID)
	})

	t.Run("order equals commit order across streams", func(t *testing.T) {
		f := s.setup(t)
		from := f.fence()
		var want []string
		versions := map[string]int64{}
		for i, name := range []string{"a", "b", "a", "c", "b", "a"} {
			stream := f.stream(name)
			expected, ok := versions[stream]
			if !ok {
				expected = event.NoStream
			}
			events := newEvents(1 + i%3)
			res := f.append(stream, expected, events)
			versions[stream] = res.Version
			want = append(want, dataIDs(events)...)
		}
		checkIDs(t, "ReadAll", f.readAllMine(from, 1000), want)
	})

	t.Run("paging by cursor visits every event exactly once", func(t *testing.T) {
		f := s.setup(t)
		from := f.fence()
		var want []string
		for i := range 7 {
			events, other := newEvents(1+i%4), newEvents(1)
			f.append(f.stream("s"), event.Any, events)
			f.append(f.stream("other"), event.Any, other)
			want = append(want, concat(events, other)...)
		}
		for _, page := range []int{1, 2, 3, 7, 100} {
			checkIDs(t, "ReadAll pages", f.readAllMine(from, page), want)
		}
	})

	t.Run("from Start includes the first events of the test", func(t *testing.T) {
		f := s.setup(t)
		events := newEvents(3)
		f.append(f.stream("s"), event.NoStream, events)
		checkIDs(t, "ReadAll from Start", f.readAllMine(event.Start, 500), dataIDs(events))
	})

	t.Run("after the position of the last event returns nothing of it", func(t *testing.T) {
		f := s.setup(t)
		events := newEvents(3)
		f.append(f.stream("s"), event.NoStream, events)
		all := f.readAllMine(event.Start, 500)
		checkIDs(t, "ReadAll", f.readAllMine(all[len(all)-1].Position, 500), nil)
		checkIDs(t, "ReadAll", f.readAllMine(all[0].Position, 500), dataIDs(events)[1:])
	})
}
