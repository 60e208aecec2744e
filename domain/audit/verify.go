package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/scanledger/scanledger/domain/event"
)

// Problem is one thing verification found wrong. Version is -1 when it concerns no
// single event.
type Problem struct {
	Stream  string `json:"stream"`
	Version int64  `json:"version"`
	Reason  string `json:"reason"`
}

func (p Problem) String() string {
	if p.Version < 0 {
		return fmt.Sprintf("%s: %s", p.Stream, p.Reason)
	}
	return fmt.Sprintf("%s version %d: %s", p.Stream, p.Version, p.Reason)
}

// Report is the outcome of a verification.
type Report struct {
	Streams int   `json:"streams"`
	Events  int64 `json:"events"`
	// Legacy counts events under chain version 1 (written before chain version 2),
	// which are verified with the formula they were written with.
	Legacy int64 `json:"legacyEvents"`
	Seals  int   `json:"seals"`
	// Seal is the latest valid seal, the one the store was compared with.
	Seal *Seal `json:"seal,omitempty"`
	// Unsealed counts events after the seal, which only their chain vouches for.
	Unsealed int64     `json:"unsealedEvents"`
	Problems []Problem `json:"problems"`
}

// OK says whether nothing was found wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verifier checks a store's chains against its seals.
type Verifier struct {
	Store event.Store
	// Public is the key seals must be signed with. Without it seals are reported
	// unverifiable.
	Public ed25519.PublicKey
	// Progress, when set, is called with the number of events checked so far.
	Progress func(events int64)
}

// sealedState is what the seal stream says: the valid seals and each stream's head as
// of the latest one.
type sealedState struct {
	last   *Seal
	seals  int
	heads  map[string]Head
	issues []Problem
}

func (v Verifier) readSeals(ctx context.Context) (sealedState, error) {
	st := sealedState{heads: map[string]Head{}}
	chain := event.ChainState{Stream: SealStream}
	t := newTail(SealStream)
	stop := false
	err := t.catchUp(ctx, v.Store, func(r event.Recorded) error {
		if stop {
			return nil
		}
		bad := func(reason string) {
			st.issues = append(st.issues, Problem{Stream: SealStream, Version: r.Version, Reason: reason})
			stop = true // nothing after a bad seal is trusted
		}
		if err := chain.Check(r); err != nil {
			bad(err.Error())
			return nil
		}
		s, err := decodeSeal(r)
		if err != nil {
			bad(err.Error())
			return nil
		}
		if err := s.Check(v.Public); err != nil {
			bad(err.Error())
			return nil
		}
		switch {
		case st.last == nil && (s.Seq != 1 || s.Prev != ""):
			bad(fmt.Sprintf("seal %d does not start the seal sequence", s.Seq))
			return nil
		case st.last != nil && (s.Seq != st.last.Seq+1 || s.Prev != st.last.DigestHex()):
			bad(fmt.Sprintf("seal %d does not follow seal %d", s.Seq, st.last.Seq))
			return nil
		case st.last != nil && s.Count < st.last.Count:
			bad(fmt.Sprintf("seal %d covers fewer events than seal %d", s.Seq, st.last.Seq))
			return nil
		}
		for _, h := range s.Changed {
			st.heads[h.Stream] = h
		}
		st.last, st.seals = &s, st.seals+1
		return nil
	})
	if err != nil {
		return sealedState{}, err
	}
	if st.last != nil {
		heads := make([]Head, 0, len(st.heads))
		for _, h := range st.heads {
			heads = append(heads, h)
		}
		if NewTree(heads).Root() != st.last.Root {
			st.issues = append(st.issues, Problem{Stream: SealStream, Version: -1,
				Reason: fmt.Sprintf("the heads listed by seals 1..%d do not give seal %d's root", st.last.Seq, st.last.Seq)})
		}
	}
	return st, nil
}

// All verifies every stream of the store: each chain, and every stream's head at the
// latest seal against the sealed one (which also catches deleted streams, deleted or
// re-chained events and events inserted before the seal).
//
// One goroutine reads pages ahead while the chains are checked on every core, each
// stream always by the same goroutine so its events stay in order.
func (v Verifier) All(ctx context.Context) (Report, error) {
	sealed, err := v.readSeals(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Seals: sealed.seals, Seal: sealed.last, Problems: sealed.issues}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := readAhead(ctx, v.Store)

	shards := make([]*shard, runtime.GOMAXPROCS(0))
	for i := range shards {
		shards[i] = &shard{live: map[string]*event.ChainState{}, broken: map[string]bool{}}
	}
	check := func(recs []event.Recorded) {
		var wg sync.WaitGroup
		for i, sh := range shards {
			wg.Add(1)
			go func() { defer wg.Done(); sh.check(recs, i, len(shards)) }()
		}
		wg.Wait()
	}
	compared := sealed.last == nil
	var lastPos event.Cursor
	compare := func() {
		compared = true
		live, broken := map[string]*event.ChainState{}, map[string]bool{}
		for _, sh := range shards {
			for k, c := range sh.live {
				live[k] = c
			}
			for k := range sh.broken {
				broken[k] = true
			}
		}
		rep.Problems = append(rep.Problems, compareHeads(sealed, live, broken, lastPos)...)
	}
	for p := range pages {
		if p.err != nil {
			return Report{}, fmt.Errorf("read all: %w", p.err)
		}
		recs := p.recs[:0] // the seal stream's events are dropped in place
		for _, r := range p.recs {
			if r.StreamID == SealStream {
				continue
			}
			rep.Events++
			lastPos = r.Position
			recs = append(recs, r)
			if !compared && rep.Events == sealed.last.Count {
				// The heads as they stood at the seal: check what came before, compare,
				// then go on with the rest of the page.
				check(recs)
				compare()
				recs = recs[len(recs):]
			}
		}
		check(recs)
		if v.Progress != nil {
			v.Progress(rep.Events)
		}
	}
	if !compared {
		rep.Problems = append(rep.Problems, Problem{Stream: "*", Version: -1,
			Reason: fmt.Sprintf("seal %d covers %d events, the store has %d: events were deleted", sealed.last.Seq, sealed.last.Count, rep.Events)})
		compare()
	}
	for _, sh := range shards {
		rep.Streams += len(sh.live)
		rep.Problems = append(rep.Problems, sh.problems...)
		for _, c := range sh.live {
			rep.Legacy += c.Legacy
		}
	}
	if sealed.last != nil && rep.Events > sealed.last.Count {
		rep.Unsealed = rep.Events - sealed.last.Count
	}
	sortProblems(rep.Problems)
	return rep, nil
}

// shard checks the chains of the streams that hash to it.
type shard struct {
	live     map[string]*event.ChainState
	broken   map[string]bool
	problems []Problem
}

// check checks the events of recs whose stream is shard i of n, in order.
func (sh *shard) check(recs []event.Recorded, i, n int) {
	for _, r := range recs {
		if shardOf(r.StreamID, n) != i {
			continue
		}
		c := sh.live[r.StreamID]
		if c == nil {
			c = &event.ChainState{Stream: r.StreamID}
			sh.live[r.StreamID] = c
		}
		if sh.broken[r.StreamID] {
			continue
		}
		if err := c.Check(r); err != nil {
			sh.broken[r.StreamID] = true
			sh.problems = append(sh.problems, problemOf(r, err))
		}
	}
}

// shardOf is FNV-1a of the stream name, modulo n.
func shardOf(stream string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(stream); i++ {
		h ^= uint32(stream[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

type page struct {
	recs []event.Recorded
	err  error
}

// readAhead reads the all-stream from its start, one page ahead of the consumer.
func readAhead(ctx context.Context, st event.Store) <-chan page {
	const size = 5000
	out := make(chan page, 1)
	go func() {
		defer close(out)
		var cursor event.Cursor
		for {
			recs, err := st.ReadAll(ctx, cursor, size)
			select {
			case out <- page{recs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(recs) < size {
				return
			}
			cursor = recs[len(recs)-1].Position
		}
	}()
	return out
}

// compareHeads compares the streams as read up to the seal's event count with the
// heads the seals list.
func compareHeads(sealed sealedState, live map[string]*event.ChainState, broken map[string]bool, lastPos event.Cursor) []Problem {
	var ps []Problem
	if lastPos != sealed.last.Position {
		ps = append(ps, Problem{Stream: "*", Version: -1, Reason: fmt.Sprintf(
			"event %d of the all-stream is at %q, seal %d says %q: events before the seal were inserted, deleted or moved",
			sealed.last.Count, lastPos, sealed.last.Seq, sealed.last.Position)})
	}
	for name, h := range sealed.heads {
		c := live[name]
		switch {
		case broken[name]:
		case c == nil || c.Next == 0:
			ps = append(ps, Problem{Stream: name, Version: h.Version, Reason: fmt.Sprintf("stream sealed at version %d is missing", h.Version)})
		case c.Next-1 < h.Version:
			ps = append(ps, Problem{Stream: name, Version: c.Next, Reason: fmt.Sprintf("events %d..%d were deleted (sealed at version %d)", c.Next, h.Version, h.Version)})
		case c.Next-1 > h.Version:
			ps = append(ps, Problem{Stream: name, Version: h.Version + 1, Reason: fmt.Sprintf("events after sealed version %d appear before the seal", h.Version)})
		case c.Head != h.Hash:
			ps = append(ps, Problem{Stream: name, Version: h.Version, Reason: "head differs from the sealed one: events were altered and the chain recomputed"})
		}
	}
	for name, c := range live {
		if _, ok := sealed.heads[name]; !ok && !broken[name] && c.Next > 0 {
			ps = append(ps, Problem{Stream: name, Version: 0, Reason: "stream is not in the seal although its events precede it"})
		}
	}
	return ps
}

// Stream verifies one stream: its chain, and its head at the latest seal.
func (v Verifier) Stream(ctx context.Context, stream string) (Report, error) {
	sealed, err := v.readSeals(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Seals: sealed.seals, Seal: sealed.last, Problems: sealed.issues}
	t := newTail(stream)
	c := event.ChainState{Stream: stream}
	h, isSealed := sealed.heads[stream]
	broken := false
	err = t.catchUp(ctx, v.Store, func(r event.Recorded) error {
		rep.Events++
		if broken {
			return nil
		}
		if err := c.Check(r); err != nil {
			broken = true
			rep.Problems = append(rep.Problems, problemOf(r, err))
			return nil
		}
		if isSealed && r.Version == h.Version && c.Head != h.Hash {
			rep.Problems = append(rep.Problems, Problem{Stream: stream, Version: h.Version, Reason: "head differs from the sealed one: events were altered and the chain recomputed"})
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	if rep.Events > 0 {
		rep.Streams = 1
	}
	rep.Legacy = c.Legacy
	switch {
	case !isSealed:
		rep.Unsealed = rep.Events
	case !broken && c.Next == 0:
		rep.Problems = append(rep.Problems, Problem{Stream: stream, Version: h.Version, Reason: fmt.Sprintf("stream sealed at version %d is missing", h.Version)})
	case !broken && c.Next-1 < h.Version:
		rep.Problems = append(rep.Problems, Problem{Stream: stream, Version: c.Next, Reason: fmt.Sprintf("events %d..%d were deleted (sealed at version %d)", c.Next, h.Version, h.Version)})
	default:
		rep.Unsealed = rep.Events - (h.Version + 1)
	}
	sortProblems(rep.Problems)
	return rep, nil
}

func problemOf(r event.Recorded, err error) Problem {
	var ve *event.VerifyError
	if errors.As(err, &ve) {
		return Problem{Stream: ve.Stream, Version: ve.Version, Reason: ve.Reason}
	}
	return Problem{Stream: r.StreamID, Version: r.Version, Reason: err.Error()}
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Stream != ps[j].Stream {
			return ps[i].Stream < ps[j].Stream
		}
		return ps[i].Version < ps[j].Version
	})
}
