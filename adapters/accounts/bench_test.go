package accounts_test

import (
	"context"
	"testing"

	"github.com/scanledger/scanledger/adapters/accounts"
)

// BenchmarkLoginWithDefaultHash prints what one login costs with the default argon2id
// parameters (the hash dominates): the figure the parameters were chosen for (~50 ms on
// one core). A timed assertion would fail on a busy machine; a benchmark prints it.
func BenchmarkLoginWithDefaultHash(b *testing.B) {
	w, r := newSQLite(b)
	e := newEnv(w, r, func(s *accounts.Store) { s.HashParams = accounts.DefaultHashParams() })
	e.signup(b, "ada@example.com", "secret1")
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.store.Login(context.Background(), "ada@example.com", "secret1", "192.0.2.1"); err != nil {
			b.Fatal(err)
		}
	}
}
