package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
)

// Tree is the Merkle tree over a set of heads, sorted by stream name. Leaves and inner
// nodes are hashed with different prefixes (0 and 1), so a leaf can never pass for a
// node; an odd node at the end of a level moves up unchanged.
type Tree struct {
	heads  []Head
	levels [][][32]byte // levels[0] are the leaves; the last level is the root
}

func leafHash(h Head) [32]byte {
	d := sha256.New()
	d.Write([]byte{0})
	d.Write([]byte(strconv.Itoa(len(h.Stream))))
	d.Write([]byte{':'})
	d.Write([]byte(h.Stream))
	d.Write([]byte(strconv.FormatInt(h.Version, 10)))
	d.Write([]byte{':'})
	d.Write([]byte(h.Hash))
	var out [32]byte
	d.Sum(out[:0])
	return out
}

func nodeHash(l, r [32]byte) [32]byte {
	var b [65]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// NewTree builds the tree over heads (one per stream; the slice is sorted in place).
func NewTree(heads []Head) *Tree {
	sort.Slice(heads, func(i, j int) bool { return heads[i].Stream < heads[j].Stream })
	t := &Tree{heads: heads}
	level := make([][32]byte, len(heads))
	for i, h := range heads {
		level[i] = leafHash(h)
	}
	t.levels = append(t.levels, level)
	for len(level) > 1 {
		next := make([][32]byte, 0, (len(level)+1)/2)
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
			} else {
				next = append(next, nodeHash(level[i], level[i+1]))
			}
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t
}

// Root is the tree's root in hex; the root of no heads is the SHA-256 of nothing.
func (t *Tree) Root() string {
	top := t.levels[len(t.levels)-1]
	if len(top) == 0 {
		sum := sha256.Sum256(nil)
		return hex.EncodeToString(sum[:])
	}
	return hex.EncodeToString(top[0][:])
}

// Len is the number of heads.
func (t *Tree) Len() int { return len(t.heads) }

// Head returns stream's head in the tree.
func (t *Tree) Head(stream string) (Head, bool) {
	i := sort.Search(len(t.heads), func(i int) bool { return t.heads[i].Stream >= stream })
	if i < len(t.heads) && t.heads[i].Stream == stream {
		return t.heads[i], true
	}
	return Head{}, false
}

// Proof shows that one head is in a tree with a given root, without the other heads.
type Proof struct {
	Index int      `json:"index"` // the leaf's index
	Size  int      `json:"size"`  // the number of leaves
	Path  []string `json:"path"`  // hex sibling hashes from the leaf up (none where the node moved up alone)
}

// Proof returns stream's head and the proof that it is in the tree.
func (t *Tree) Proof(stream string) (Head, Proof, bool) {
	h, ok := t.Head(stream)
	if !ok {
		return Head{}, Proof{}, false
	}
	i := sort.Search(len(t.heads), func(i int) bool { return t.heads[i].Stream >= stream })
	p := Proof{Index: i, Size: len(t.heads)}
	for _, level := range t.levels[:len(t.levels)-1] {
		sib := i ^ 1
		if sib < len(level) {
			p.Path = append(p.Path, hex.EncodeToString(level[sib][:]))
		}
		i /= 2
	}
	return h, p, true
}

// VerifyProof says whether p proves h in a tree with root (hex).
func VerifyProof(h Head, p Proof, root string) bool {
	if p.Index < 0 || p.Index >= p.Size {
		return false
	}
	cur := leafHash(h)
	i, n, k := p.Index, p.Size, 0
	for n > 1 {
		sib := i ^ 1
		if sib < n {
			if k >= len(p.Path) {
				return false
			}
			b, err := hex.DecodeString(p.Path[k])
			if err != nil || len(b) != 32 {
				return false
			}
			var s [32]byte
			copy(s[:], b)
			k++
			if i%2 == 0 {
				cur = nodeHash(cur, s)
			} else {
				cur = nodeHash(s, cur)
			}
		}
		i, n = i/2, (n+1)/2
	}
	return k == len(p.Path) && hex.EncodeToString(cur[:]) == root
}
