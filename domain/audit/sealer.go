package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// Sealer signs seals. It follows the all-stream from its start once and then from
// where it stopped, checking every stream's chain as it goes, so a seal never vouches
// for a broken stream and a seal costs the events since the last one. Seals from other
// processes (another instance, the command line) are read and continued, never forked.
type Sealer struct {
	store event.Store
	key   ed25519.PrivateKey
	pub   ed25519.PublicKey
	now   func() time.Time
	newID func() string

	mu      sync.Mutex
	live    map[string]*event.ChainState
	broken  map[string]error
	count   int64
	cursor  event.Cursor
	lastPos event.Cursor
	sealed  map[string]Head
	seals   tail
	last    *Seal
}

// NewSealer returns a Sealer appending seals signed with key to store.
func NewSealer(store event.Store, key ed25519.PrivateKey) *Sealer {
	return &Sealer{
		store: store, key: key, pub: key.Public().(ed25519.PublicKey),
		now: time.Now, newID: domain.NewEventID,
		live: map[string]*event.ChainState{}, broken: map[string]error{},
		sealed: map[string]Head{}, seals: newTail(SealStream),
	}
}

// follow checks the events appended since the last call.
func (s *Sealer) follow(ctx context.Context) error {
	const page = 2000
	for {
		recs, err := s.store.ReadAll(ctx, s.cursor, page)
		if err != nil {
			return fmt.Errorf("read all: %w", err)
		}
		for _, r := range recs {
			s.cursor = r.Position
			if r.StreamID == SealStream {
				continue
			}
			s.count++
			s.lastPos = r.Position
			if _, bad := s.broken[r.StreamID]; bad {
				continue
			}
			c := s.live[r.StreamID]
			if c == nil {
				c = &event.ChainState{Stream: r.StreamID}
				s.live[r.StreamID] = c
			}
			if err := c.Check(r); err != nil {
				s.broken[r.StreamID] = err
			}
		}
		if len(recs) < page {
			return nil
		}
	}
}

// adopt applies a seal read from the seal stream (ours or another process's).
func (s *Sealer) adopt(r event.Recorded) error {
	seal, err := decodeSeal(r)
	if err != nil {
		return err
	}
	if err := seal.Check(s.pub); err != nil {
		return fmt.Errorf("refusing to continue the seal stream: %w", err)
	}
	for _, h := range seal.Changed {
		s.sealed[h.Stream] = h
	}
	s.last = &seal
	return nil
}

// Seal signs a seal over every stream as it stands now and appends it, unless nothing
// was appended since the last seal, which it then returns. The tree gives inclusion
// proofs for exports. A broken stream is an error naming it: the service does not seal
// over tampering.
func (s *Sealer) Seal(ctx context.Context) (Seal, *Tree, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 0; try < 20; try++ {
		if err := s.follow(ctx); err != nil {
			return Seal{}, nil, err
		}
		if len(s.broken) > 0 {
			return Seal{}, nil, s.brokenError()
		}
		if err := s.seals.catchUp(ctx, s.store, s.adopt); err != nil {
			return Seal{}, nil, err
		}
		if s.last != nil && s.last.Count > s.count {
			continue // another process sealed events we have not read yet
		}
		heads := s.heads()
		if s.last != nil && s.last.Count == s.count && s.last.Position == s.lastPos {
			return *s.last, NewTree(heads), nil
		}
		var changed []Head
		for _, h := range heads {
			if s.sealed[h.Stream] != h {
				changed = append(changed, h)
			}
		}
		tree := NewTree(heads)
		seal := Seal{Seq: 1, Time: s.now(), Count: s.count, Position: s.lastPos, Streams: tree.Len(), Root: tree.Root(), Changed: changed}
		if seal.Changed == nil {
			seal.Changed = []Head{}
		}
		if s.last != nil {
			seal.Seq, seal.Prev = s.last.Seq+1, s.last.DigestHex()
		}
		seal.Sign(s.key)
		body, err := json.Marshal(seal)
		if err != nil {
			return Seal{}, nil, fmt.Errorf("encode seal: %w", err)
		}
		id := s.newID()
		version, prev := s.seals.link()
		d, _, err := event.Chained(SealStream, version, prev, id, TypeSealed, 1, body, event.Metadata{OccurredAt: seal.Time})
		if err != nil {
			return Seal{}, nil, err
		}
		_, err = s.store.Append(ctx, SealStream, s.seals.version, []event.Data{d})
		if err != nil {
			if isConflict(err) {
				continue
			}
			return Seal{}, nil, fmt.Errorf("append seal: %w", err)
		}
		m, _ := event.ParseMetadata(d.Metadata)
		s.seals.version, s.seals.head = version, m.Chain
		for _, h := range changed {
			s.sealed[h.Stream] = h
		}
		s.last = &seal
		return seal, tree, nil
	}
	return Seal{}, nil, fmt.Errorf("seal: the seal stream kept moving")
}

func (s *Sealer) heads() []Head {
	heads := make([]Head, 0, len(s.live))
	for name, c := range s.live {
		if c.Next > 0 {
			heads = append(heads, Head{Stream: name, Version: c.Next - 1, Hash: c.Head})
		}
	}
	return heads
}

func (s *Sealer) brokenError() error {
	names := make([]string, 0, len(s.broken))
	for n := range s.broken {
		names = append(names, n)
	}
	sort.Strings(names)
	msgs := make([]string, len(names))
	for i, n := range names {
		msgs[i] = s.broken[n].Error()
	}
	return domain.Errorf(domain.ECONFLICT, "not sealing: %d broken stream(s): %s", len(names), strings.Join(msgs, "; "))
}

// Run seals every interval until ctx is done, logging failures with logf.
func (s *Sealer) Run(ctx context.Context, every time.Duration, logf func(format string, args ...any)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, _, err := s.Seal(ctx); err != nil && ctx.Err() == nil {
				logf("audit seal: %v", err)
			}
		}
	}
}

// PublicKey is the key the Sealer's seals verify with.
func (s *Sealer) PublicKey() ed25519.PublicKey { return s.pub }
