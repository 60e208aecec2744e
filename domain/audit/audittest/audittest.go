// Package audittest is the tamper suite: every event store adapter runs it with a way
// to tamper with its own storage the way someone with database access could, and
// verification must name what was done.
//
//	audittest.Run(t, func(t *testing.T) (event.Store, audittest.Tamperer) { ... })
package audittest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
)

// Tamperer changes stored events behind the store's back, as an attacker with write
// access to the database would (dropping whatever immutability guard the engine has).
type Tamperer interface {
	// Rewrite replaces the stored data and metadata of the event at (stream, version).
	Rewrite(ctx context.Context, stream string, version int64, data, metadata []byte) error
	// Delete removes the event at (stream, version).
	Delete(ctx context.Context, stream string, version int64) error
	// DeleteStream removes every event of stream.
	DeleteStream(ctx context.Context, stream string) error
	// Swap exchanges the versions of two events of stream (their order).
	Swap(ctx context.Context, stream string, v1, v2 int64) error
}

// Open returns a fresh, empty store and a Tamperer for it.
type Open func(t *testing.T) (event.Store, Tamperer)

// fixture is a sealed store of three streams of four events.
type fixture struct {
	store   event.Store
	tamper  Tamperer
	key     ed25519.PrivateKey
	streams []string
}

func setup(t *testing.T, open Open) *fixture {
	t.Helper()
	st, tm := open(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	f := &fixture{store: st, tamper: tm, key: key}
	tag := strings.ReplaceAll(domain.NewEventID()[:8], "-", "")
	for i := range 3 {
		name := fmt.Sprintf("scan-%s%d", tag, i)
		f.streams = append(f.streams, name)
		AppendChained(t, st, name, 4)
	}
	if _, _, err := audit.NewSealer(st, key).Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f
}

// AppendChained appends n chained events to stream (after what it holds).
func AppendChained(t testing.TB, st event.Store, stream string, n int) {
	t.Helper()
	ctx := context.Background()
	recs, err := st.ReadStream(ctx, stream, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	version, prev := int64(len(recs)), stream
	if len(recs) > 0 {
		m, _ := event.ParseMetadata(recs[len(recs)-1].Metadata)
		prev = m.Chain
	}
	expected := version - 1
	var batch []event.Data
	for i := range n {
		data, _ := json.Marshal(map[string]any{"n": version + int64(i), "address": "1 Main St"})
		d, link, err := event.Chained(stream, version+int64(i), prev, domain.NewEventID(), "ProgressReported", 1, data,
			event.Metadata{OccurredAt: time.Now(), UserID: "u1", CorrelationID: "c1", CausationID: "c0"})
		if err != nil {
			t.Fatal(err)
		}
		batch, prev = append(batch, d), link
	}
	if _, err := st.Append(ctx, stream, expected, batch); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) verifier() audit.Verifier {
	return audit.Verifier{Store: f.store, Public: f.key.Public().(ed25519.PublicKey)}
}

func (f *fixture) read(t *testing.T, stream string) []event.Recorded {
	t.Helper()
	recs, err := f.store.ReadStream(t.Context(), stream, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// expectCaught verifies the whole store and the one stream and wants a problem naming
// stream (and version, when >= 0) from both.
func (f *fixture) expectCaught(t *testing.T, stream string, version int64) {
	t.Helper()
	all, err := f.verifier().All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !names(all, stream, version) {
		t.Errorf("verify all: want a problem at %s version %d, got %v", stream, version, all.Problems)
	}
	one, err := f.verifier().Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	if !names(one, stream, version) {
		t.Errorf("verify stream: want a problem at %s version %d, got %v", stream, version, one.Problems)
	}
}

func names(r audit.Report, stream string, version int64) bool {
	for _, p := range r.Problems {
		if p.Stream == stream && (version < 0 || p.Version == version) {
			return true
		}
	}
	return false
}

// Rechain recomputes the links of recs from index from on, as an attacker who knows
// the chain formula would after an edit, and writes them back.
func Rechain(t *testing.T, tm Tamperer, stream string, recs []event.Recorded, from int) {
	t.Helper()
	prev := stream
	if from > 0 {
		m, _ := event.ParseMetadata(recs[from-1].Metadata)
		prev = m.Chain
	}
	for _, r := range recs[from:] {
		m, err := event.ParseMetadata(r.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		d, link, err := event.Chained(stream, r.Version, prev, r.ID, r.Type, r.SchemaVersion, r.Data, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := tm.Rewrite(t.Context(), stream, r.Version, d.Data, d.Metadata); err != nil {
			t.Fatal(err)
		}
		prev = link
	}
}

// Run runs the tamper suite.
func Run(t *testing.T, open Open) {
	t.Run("an intact sealed store verifies", func(t *testing.T) {
		f := setup(t, open)
		AppendChained(t, f.store, f.streams[0], 2) // events after the seal are fine, only unsealed
		rep, err := f.verifier().All(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Streams != 3 || rep.Events != 14 || rep.Seal == nil || rep.Unsealed != 2 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("edited data", func(t *testing.T) {
		f := setup(t, open)
		r := f.read(t, f.streams[1])[2]
		if err := f.tamper.Rewrite(t.Context(), f.streams[1], 2, []byte(`{"n":2,"address":"2 Other Rd"}`), r.Metadata); err != nil {
			t.Fatal(err)
		}
		f.expectCaught(t, f.streams[1], 2)
	})
	t.Run("edited metadata", func(t *testing.T) {
		f := setup(t, open)
		for i, edit := range []func(m *event.Metadata){
			func(m *event.Metadata) { m.UserID = "someone-else" },
			func(m *event.Metadata) { m.OccurredAt = m.OccurredAt.Add(-time.Hour) },
			func(m *event.Metadata) { m.CorrelationID = "c2" },
			func(m *event.Metadata) { m.CausationID = "c9" },
		} {
			stream := f.streams[i%3]
			r := f.read(t, stream)[1]
			m, _ := event.ParseMetadata(r.Metadata)
			edit(&m)
			mb, _ := json.Marshal(m)
			if err := f.tamper.Rewrite(t.Context(), stream, 1, r.Data, mb); err != nil {
				t.Fatal(err)
			}
			f.expectCaught(t, stream, 1)
			if err := f.tamper.Rewrite(t.Context(), stream, 1, r.Data, r.Metadata); err != nil {
				t.Fatal(err)
			}
		}
		// Even a field the chain does not know of changes the bytes.
		r := f.read(t, f.streams[0])[3]
		mb := append([]byte(`{"note":"x",`), r.Metadata[1:]...)
		if err := f.tamper.Rewrite(t.Context(), f.streams[0], 3, r.Data, mb); err != nil {
			t.Fatal(err)
		}
		f.expectCaught(t, f.streams[0], 3)
	})
	t.Run("deleted last event", func(t *testing.T) {
		f := setup(t, open)
		if err := f.tamper.Delete(t.Context(), f.streams[2], 3); err != nil {
			t.Fatal(err)
		}
		f.expectCaught(t, f.streams[2], 3)
	})
	t.Run("deleted stream", func(t *testing.T) {
		f := setup(t, open)
		if err := f.tamper.DeleteStream(t.Context(), f.streams[0]); err != nil {
			t.Fatal(err)
		}
		f.expectCaught(t, f.streams[0], -1)
	})
	t.Run("edit with the chain recomputed", func(t *testing.T) {
		f := setup(t, open)
		recs := f.read(t, f.streams[1])
		recs[1].Data = []byte(`{"n":1,"address":"9 Forged Ave"}`)
		Rechain(t, f.tamper, f.streams[1], recs, 1)
		// The chain alone is satisfied...
		if err := event.Verify(f.streams[1], f.read(t, f.streams[1])); err != nil {
			t.Fatalf("the recomputed chain should pass on its own: %v", err)
		}
		// ...the seal is not.
		f.expectCaught(t, f.streams[1], -1)
	})
	t.Run("reordered events", func(t *testing.T) {
		f := setup(t, open)
		if err := f.tamper.Swap(t.Context(), f.streams[0], 1, 2); err != nil {
			t.Fatal(err)
		}
		f.expectCaught(t, f.streams[0], -1)
	})
	t.Run("several broken streams are each named once, as one by one", func(t *testing.T) {
		// Verify all checks streams in parallel: what it finds must be exactly what
		// verifying each stream on its own finds, whichever goroutine held the stream.
		f := setup(t, open)
		for i := range 9 {
			name := fmt.Sprintf("%s-more%d", f.streams[0], i)
			f.streams = append(f.streams, name)
			AppendChained(t, f.store, name, 4)
		}
		if _, _, err := audit.NewSealer(f.store, f.key).Seal(t.Context()); err != nil {
			t.Fatal(err)
		}
		broken := map[string]bool{}
		for i, stream := range f.streams {
			switch i % 4 {
			case 0:
				r := f.read(t, stream)[2]
				if err := f.tamper.Rewrite(t.Context(), stream, 2, []byte(`{"n":2,"address":"2 Other Rd"}`), r.Metadata); err != nil {
					t.Fatal(err)
				}
			case 1:
				if err := f.tamper.Delete(t.Context(), stream, 3); err != nil {
					t.Fatal(err)
				}
			case 2:
				recs := f.read(t, stream)
				recs[1].Data = []byte(`{"n":1,"address":"9 Forged Ave"}`)
				Rechain(t, f.tamper, stream, recs, 1)
			case 3:
				continue // intact
			}
			broken[stream] = true
		}
		all, err := f.verifier().All(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var want []audit.Problem
		for _, stream := range f.streams {
			one, err := f.verifier().Stream(t.Context(), stream)
			if err != nil {
				t.Fatal(err)
			}
			if len(one.Problems) != map[bool]int{true: 1}[broken[stream]] {
				t.Fatalf("verify stream %s: %v", stream, one.Problems)
			}
			want = append(want, one.Problems...)
		}
		sort.Slice(want, func(i, j int) bool { return want[i].Stream < want[j].Stream })
		var got []audit.Problem
		for _, p := range all.Problems {
			if p.Stream != "*" { // deleted events also show store-wide (the seal's count)
				got = append(got, p)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("verify all found\n%v\nverifying stream by stream found\n%v", got, want)
		}
	})
	t.Run("forged seal", func(t *testing.T) {
		f := setup(t, open)
		// Someone re-chains an edit and seals it with a key of their own.
		recs := f.read(t, f.streams[2])
		recs[0].Data = []byte(`{"n":0,"address":"9 Forged Ave"}`)
		Rechain(t, f.tamper, f.streams[2], recs, 0)
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		forger := audit.NewSealer(f.store, other)
		_, _, err := forger.Seal(t.Context())
		if err == nil {
			t.Fatal("a sealer with another key continued the seal stream")
		}
		// So they append a seal event by hand.
		sealed := f.read(t, audit.SealStream)
		var last audit.Seal
		if err := json.Unmarshal(sealed[len(sealed)-1].Data, &last); err != nil {
			t.Fatal(err)
		}
		forged := last
		forged.Seq, forged.Prev, forged.Time = last.Seq+1, last.DigestHex(), time.Now()
		forged.Sign(other)
		forged.KeyID = last.KeyID // claim to be the service's key
		body, _ := json.Marshal(forged)
		m, _ := event.ParseMetadata(sealed[len(sealed)-1].Metadata)
		d, _, err := event.Chained(audit.SealStream, int64(len(sealed)), m.Chain, domain.NewEventID(), audit.TypeSealed, 1, body, event.Metadata{OccurredAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Append(t.Context(), audit.SealStream, int64(len(sealed)-1), []event.Data{d}); err != nil {
			t.Fatal(err)
		}
		rep, err := f.verifier().All(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !names(rep, audit.SealStream, int64(len(sealed))) || !names(rep, f.streams[2], -1) {
			t.Fatalf("want the forged seal and the re-chained stream named, got %v", rep.Problems)
		}
	})
}
