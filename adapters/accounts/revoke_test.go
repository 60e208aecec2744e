package accounts_test

import (
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/account"
)

// Deleting a user, even by hand in SQL, and revoking a user's tokens both record up to
// when the user's tokens are refused, on every engine.
func TestDeletingOrRevokingAUserRecordsARevocation(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a, err := e.store.Signup(ctx, account.NewUser{Email: "a@example.com", Password: "secret1"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.store.Signup(ctx, account.NewUser{Email: "b@example.com", Password: "secret1"})
		if err != nil {
			t.Fatal(err)
		}
		if until, err := e.store.RevokedUntil(ctx, a.User.ID); err != nil || !until.IsZero() {
			t.Fatalf("fresh user revoked until %v, %v", until, err)
		}
		before := time.Now().Add(-time.Second)
		if _, err := e.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, a.User.ID); err != nil {
			t.Fatal(err)
		}
		if until, err := e.store.RevokedUntil(ctx, a.User.ID); err != nil || until.Before(before) {
			t.Fatalf("deleted user revoked until %v, %v; want about now", until, err)
		}
		if err := e.store.RevokeTokens(ctx, "B@example.com"); err != nil {
			t.Fatal(err)
		}
		if until, err := e.store.RevokedUntil(ctx, b.User.ID); err != nil || !until.Equal(e.clock.Now().Truncate(time.Second)) {
			t.Fatalf("revoked user revoked until %v, %v; want %v", until, err, e.clock.Now())
		}
		if _, err := e.store.Refresh(ctx, b.RefreshToken); err == nil {
			t.Fatal("a revoked user's refresh token still works")
		}
	})
}
