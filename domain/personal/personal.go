// Package personal keeps personal data out of reach once its owner is forgotten
// (crypto-shredding). Events are immutable and chained, so personal fields in them are
// stored sealed under a key of their owner's, kept outside the event store; destroying
// that key makes every sealed field of the owner unreadable at once, while the events,
// their chain and their seals stay exactly as they were.
package personal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/scanledger/scanledger/domain"
)

// Erased is what readers show in place of a personal field whose owner was forgotten.
const Erased = "[erased]"

// KeySize is the size of a user's key: AES-256.
const KeySize = 32

// ErrErased: the user's key was destroyed; their sealed fields cannot be opened again.
var ErrErased = errors.New("personal data erased")

// Keys holds one key per user, outside the event store, in a store whose rows can be
// deleted for good.
type Keys interface {
	// Key returns userID's key. With create, a key is made and kept when the user has
	// none. It returns ErrErased when the key was destroyed, also with create: a
	// forgotten user never gets a new key, so nothing new of theirs is readable.
	// Without create, a user who never had a key is a domain.ENOTFOUND error.
	Key(ctx context.Context, userID string, create bool) ([]byte, error)
	// Destroy deletes userID's key and remembers that it was destroyed. Destroying
	// twice, or the key of a user who never had one, is not an error.
	Destroy(ctx context.Context, userID string) error
}

// Sealed is the personal fields of one event as stored: a JSON object of them,
// encrypted with AES-256-GCM under Owner's key, the owner's id as additional data.
type Sealed struct {
	Owner string `json:"owner"`
	// Box is the 12-byte nonce followed by the ciphertext and tag (base64 in JSON).
	Box []byte `json:"box,omitempty"`
	// Plain holds the fields in clear. Only events written before personal fields were
	// sealed have it (their upcasters move the old fields here); it is never written.
	Plain json.RawMessage `json:"plain,omitempty"`
}

// Cipher seals and opens personal fields with the keys of Keys.
type Cipher struct {
	Keys Keys
	// Rand is the nonce source (default crypto/rand); tests make it repeatable.
	Rand io.Reader
}

// Seal encrypts fields (marshalled to JSON) under owner's key, making the key when the
// owner has none yet.
func (c *Cipher) Seal(ctx context.Context, owner string, fields any) (*Sealed, error) {
	if c == nil || c.Keys == nil {
		return nil, errors.New("seal personal data: no key store")
	}
	if owner == "" {
		return nil, errors.New("seal personal data: no owner")
	}
	plain, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("seal personal data: %w", err)
	}
	key, err := c.Keys.Key(ctx, owner, true)
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", owner, err)
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, fmt.Errorf("seal personal data: nonce: %w", err)
	}
	return &Sealed{Owner: owner, Box: aead.Seal(nonce, nonce, plain, []byte(owner))}, nil
}

// Open decrypts s into fields (a pointer, unmarshalled from the JSON sealed). It
// returns ErrErased, leaving fields alone, when the owner's key was destroyed. Plain
// (legacy) fields need no key and are always returned: they were never sealed.
func (c *Cipher) Open(ctx context.Context, s *Sealed, fields any) error {
	plain := []byte(s.Plain)
	if s.Box != nil {
		if c == nil || c.Keys == nil {
			return errors.New("open personal data: no key store")
		}
		key, err := c.Keys.Key(ctx, s.Owner, false)
		if err != nil {
			if errors.Is(err, ErrErased) {
				return ErrErased
			}
			return fmt.Errorf("key of %s: %w", s.Owner, err)
		}
		aead, err := gcm(key)
		if err != nil {
			return err
		}
		if len(s.Box) < aead.NonceSize() {
			return domain.Errorf(domain.EINVALID, "sealed personal data of %s is too short", s.Owner)
		}
		n := aead.NonceSize()
		if plain, err = aead.Open(nil, s.Box[:n], s.Box[n:], []byte(s.Owner)); err != nil {
			return fmt.Errorf("open personal data of %s: %w", s.Owner, err)
		}
	}
	if len(plain) == 0 {
		return nil
	}
	if err := json.Unmarshal(plain, fields); err != nil {
		return fmt.Errorf("open personal data of %s: %w", s.Owner, err)
	}
	return nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("personal key: %d bytes, want %d", len(key), KeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// NewKey returns a fresh random key, for Keys implementations.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, k); err != nil {
		return nil, fmt.Errorf("new personal key: %w", err)
	}
	return k, nil
}
