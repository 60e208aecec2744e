package main

import (
	"context"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// The feed janitor tidies the live feed, a projection's table, and nothing else:
// sign-in attempts and sessions are the accounts' own, pruned by their own janitor.
func TestTheFeedJanitorDoesNotPruneAccounts(t *testing.T) {
	ctx := context.Background()
	a := openDataDirApp(t, t.TempDir())
	defer a.Close()
	old := a.write.Dialect.Time(time.Now().Add(-30 * 24 * time.Hour))
	if _, err := a.write.ExecContext(ctx, `INSERT INTO login_attempts (id, email_key, ip, attempted_at) VALUES ($1, $2, $3, $4)`,
		domain.NewID(), "ada@example.com", "192.0.2.1", old); err != nil {
		t.Fatal(err)
	}
	attempts := func() int {
		t.Helper()
		var n int
		if err := a.write.QueryRowContext(ctx, `SELECT count(*) FROM login_attempts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := a.pruneFeed(ctx); err != nil {
		t.Fatal(err)
	}
	if n := attempts(); n != 1 {
		t.Fatalf("after the feed janitor: %d sign-in attempts, want the month-old one kept (1)", n)
	}
	if err := a.accounts.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := attempts(); n != 0 {
		t.Fatalf("after the session janitor: %d sign-in attempts, want the month-old one gone", n)
	}
}
