// Package audit makes the event store trustworthy to someone who does not trust its
// operator: seals (signed checkpoints over every stream's head), their verification
// over a whole store or an export file, and the access trail kept as events.
//
// The per-stream chain (event.Link) shows that a stream is consistent with itself. A
// seal shows that it is the stream that was written: the service signs, with an
// Ed25519 key kept outside the event database, the Merkle root over (stream, version,
// head link) of every stream, with the number of events covered and the position of
// the last. Whoever edits, deletes or reorders sealed events and recomputes the chain
// changes a head, and cannot sign the root again.
package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// StreamPrefix starts the name of every stream this package writes (seals, the access
// trail), so that an engine whose all-stream is configured by prefix can include them.
const StreamPrefix = "audit-"

// SealStream is the stream seals are appended to. It is chained like every stream but
// not covered by seals itself: seals are signed, and each names the digest of the one
// before it.
const SealStream = "audit-seals"

// TypeSealed is the event type of a seal; its data is the Seal JSON.
const TypeSealed = "Sealed"

// Head is a stream's last event as a seal saw it.
type Head struct {
	Stream  string `json:"stream"`
	Version int64  `json:"version"`
	Hash    string `json:"hash"` // the event's chain link
}

// Seal is a signed checkpoint over every stream but SealStream.
type Seal struct {
	Seq  int64  `json:"seq"`            // 1 for the first seal, then one more each time
	Prev string `json:"prev,omitempty"` // Digest of the seal before (none for the first)
	// Time is when the service signed it.
	Time time.Time `json:"time"`
	// Count is how many events the seal covers: the first Count events of the
	// all-stream, not counting SealStream's.
	Count int64 `json:"count"`
	// Position is the all-stream cursor of the last covered event.
	Position event.Cursor `json:"position"`
	Streams  int          `json:"streams"` // how many streams the root covers
	Root     string       `json:"root"`    // hex Merkle root over the heads, see Root
	// Changed lists the heads that differ from the previous seal's, so that replaying
	// every seal gives each stream's sealed head and a verifier can name what is
	// missing. It is left out of exports (Digest covers it either way via Root).
	Changed []Head `json:"changed,omitempty"`
	// ChangedDigest is the SHA-256 of Changed's JSON, so that a seal with Changed left
	// out still verifies.
	ChangedDigest string `json:"changedDigest"`
	KeyID         string `json:"keyId"`
	Signature     string `json:"signature,omitempty"` // base64 Ed25519 over Digest
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Digest is what the signature covers: every field but Signature and Changed (which
// ChangedDigest stands for).
func (s Seal) Digest() []byte {
	s.Signature, s.Changed = "", nil
	s.Time = s.Time.UTC()
	b, _ := json.Marshal(s) // a struct of strings and numbers always encodes
	sum := sha256.Sum256(append([]byte("scanledger-seal-v1\n"), b...))
	return sum[:]
}

func changedDigest(hs []Head) string {
	if hs == nil {
		hs = []Head{}
	}
	b, _ := json.Marshal(hs)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Sign completes s (key id, changed digest) and signs it.
func (s *Seal) Sign(key ed25519.PrivateKey) {
	s.Time = s.Time.UTC()
	s.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	s.ChangedDigest = changedDigest(s.Changed)
	s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, s.Digest()))
}

// Check verifies s's signature with pub, and that Changed (when present) is the list
// that was signed. The error is a domain.EINVALID error.
func (s Seal) Check(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return domain.Errorf(domain.EINVALID, "seal %d: no valid public key to check it with", s.Seq)
	}
	if s.KeyID != KeyID(pub) {
		return domain.Errorf(domain.EINVALID, "seal %d: signed by key %s, not %s", s.Seq, s.KeyID, KeyID(pub))
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || !ed25519.Verify(pub, s.Digest(), sig) {
		return domain.Errorf(domain.EINVALID, "seal %d: signature does not verify", s.Seq)
	}
	if s.Changed != nil && changedDigest(s.Changed) != s.ChangedDigest {
		return domain.Errorf(domain.EINVALID, "seal %d: changed heads differ from the signed ones", s.Seq)
	}
	return nil
}

// DigestHex is Digest in hex, the form Prev takes.
func (s Seal) DigestHex() string { return hex.EncodeToString(s.Digest()) }

// ParsePublicKey reads a public key in hex (as `scanledger audit key` prints it).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, domain.Errorf(domain.EINVALID, "public key: want %d bytes in hex", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

func decodeSeal(r event.Recorded) (Seal, error) {
	var s Seal
	if err := json.Unmarshal(r.Data, &s); err != nil {
		return Seal{}, fmt.Errorf("seal event %s: %w", r.ID, err)
	}
	return s, nil
}
