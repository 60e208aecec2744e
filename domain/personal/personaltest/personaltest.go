// Package personaltest is the conformance suite for personal.Keys, which every key
// store runs from its own tests, and an in-memory Keys for other packages' tests.
//
//	func TestKeys(t *testing.T) { personaltest.Run(t, newKeys(t)) }
package personaltest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/personal"
)

// Memory is a personal.Keys held in memory.
type Memory struct {
	mu        sync.Mutex
	keys      map[string][]byte
	destroyed map[string]bool
}

// NewMemory returns an empty in-memory key store.
func NewMemory() *Memory {
	return &Memory{keys: map[string][]byte{}, destroyed: map[string]bool{}}
}

// Key implements personal.Keys.
func (m *Memory) Key(_ context.Context, userID string, create bool) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed[userID] {
		return nil, personal.ErrErased
	}
	if k, ok := m.keys[userID]; ok {
		return k, nil
	}
	if !create {
		return nil, domain.Errorf(domain.ENOTFOUND, "no personal key for %s", userID)
	}
	k, err := personal.NewKey()
	if err != nil {
		return nil, err
	}
	m.keys[userID] = k
	return k, nil
}

// Destroy implements personal.Keys.
func (m *Memory) Destroy(_ context.Context, userID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, userID)
	m.destroyed[userID] = true
	return nil
}

// Run checks that keys behaves as personal.Keys says. Users are named by the test, so
// keys may be shared with other tests.
func Run(t *testing.T, keys personal.Keys) {
	ctx := context.Background()
	user := domain.NewEventID()
	other := domain.NewEventID()

	if _, err := keys.Key(ctx, user, false); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("key of a user without one: %v, want not found", err)
	}
	k1, err := keys.Key(ctx, user, true)
	if err != nil || len(k1) != personal.KeySize {
		t.Fatalf("create a key: %d bytes, %v", len(k1), err)
	}
	k2, err := keys.Key(ctx, user, true)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("a second create gave another key (%v)", err)
	}
	k3, err := keys.Key(ctx, user, false)
	if err != nil || !bytes.Equal(k1, k3) {
		t.Fatalf("reading the key gave another key (%v)", err)
	}
	ko, err := keys.Key(ctx, other, true)
	if err != nil || bytes.Equal(ko, k1) {
		t.Fatalf("two users share a key (%v)", err)
	}

	c := &personal.Cipher{Keys: keys}
	type fields struct {
		Address string `json:"address"`
	}
	sealed, err := c.Seal(ctx, user, fields{Address: "1 Main St"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed.Box, []byte("Main")) {
		t.Fatal("sealed box holds the plaintext")
	}
	var back fields
	if err := c.Open(ctx, sealed, &back); err != nil || back.Address != "1 Main St" {
		t.Fatalf("open: %+v, %v", back, err)
	}

	if err := keys.Destroy(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := keys.Destroy(ctx, user); err != nil {
		t.Fatalf("destroying twice: %v", err)
	}
	if _, err := keys.Key(ctx, user, false); !errors.Is(err, personal.ErrErased) {
		t.Fatalf("key after destroy: %v, want ErrErased", err)
	}
	if _, err := keys.Key(ctx, user, true); !errors.Is(err, personal.ErrErased) {
		t.Fatalf("a forgotten user got a new key: %v", err)
	}
	back = fields{}
	if err := c.Open(ctx, sealed, &back); !errors.Is(err, personal.ErrErased) || back.Address != "" {
		t.Fatalf("open after destroy: %+v, %v, want ErrErased", back, err)
	}
	if ko2, err := keys.Key(ctx, other, false); err != nil || !bytes.Equal(ko, ko2) {
		t.Fatalf("destroying one user's key touched another's (%v)", err)
	}
	if err := keys.Destroy(ctx, domain.NewEventID()); err != nil {
		t.Fatalf("destroying the key of a user who never had one: %v", err)
	}
}
