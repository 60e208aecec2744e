package accounts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/auth"
)

// refused checks that the store refuses to exchange refreshToken.
func (e *env) refused(t *testing.T, refreshToken string) {
	t.Helper()
	_, err := e.store.Refresh(context.Background(), refreshToken)
	if domain.ErrorCode(err) != domain.EUNAUTHORIZED || domain.ErrorMessage(err) != "Invalid refresh token" {
		t.Fatalf("want 401 Invalid refresh token, got %v", err)
	}
}

func TestARefreshTokenIsExchangedForANewPair(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		first := e.signup(t, "ada@example.com", "secret1")
		next, err := e.store.Refresh(context.Background(), first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if next.RefreshToken == first.RefreshToken || next.AccessToken == "" || next.User.ID != first.User.ID {
			t.Fatalf("refresh: %+v", next)
		}
		if _, err := e.tokens.Verify(next.AccessToken, auth.Access); err != nil {
			t.Fatalf("new access token: %v", err)
		}
		if _, err := e.store.Refresh(context.Background(), next.RefreshToken); err != nil {
			t.Fatalf("the successor refreshes in turn: %v", err)
		}
	})
}

func TestParallelRefreshesWithOneTokenAllSucceed(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		s := e.signup(t, "ada@example.com", "secret1")
		const n = 6
		var wg sync.WaitGroup
		errs := make(chan error, n)
		got := make(chan account.Session, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next, err := e.store.Refresh(context.Background(), s.RefreshToken)
				errs <- err
				got <- next
			}()
		}
		wg.Wait()
		close(errs)
		close(got)
		for err := range errs {
			if err != nil {
				t.Fatalf("a parallel refresh failed: %v", err)
			}
		}
		// Every pair handed out works: whichever the client keeps, it can go on.
		for next := range got {
			if _, err := e.store.Refresh(context.Background(), next.RefreshToken); err != nil {
				t.Fatalf("a refresh token from the burst: %v", err)
			}
		}
	})
}

func TestARotatedTokenStillWorksWithinTheGraceWindow(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		s := e.signup(t, "ada@example.com", "secret1")
		if _, err := e.store.Refresh(context.Background(), s.RefreshToken); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(accounts.DefaultRefreshGrace - time.Second)
		if _, err := e.store.Refresh(context.Background(), s.RefreshToken); err != nil {
			t.Fatalf("within the window: %v", err)
		}
		// The window runs from the first exchange: later ones do not extend it.
		e.clock.Advance(2 * time.Second)
		e.refused(t, s.RefreshToken)
	})
}

func TestReplayingARotatedTokenAfterTheWindowRevokesItsWholeFamily(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		s := e.signup(t, "ada@example.com", "secret1")
		other, err := e.store.Login(ctx, "ada@example.com", "secret1", "192.0.2.1") // another device
		if err != nil {
			t.Fatal(err)
		}
		next, err := e.store.Refresh(ctx, s.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(accounts.DefaultRefreshGrace + time.Second)
		e.refused(t, s.RefreshToken)    // the replay
		e.refused(t, next.RefreshToken) // its descendant, unused until now
		if _, err := e.store.Refresh(ctx, other.RefreshToken); err != nil {
			t.Fatalf("another login's session must survive: %v", err)
		}
	})
}

func TestRefreshRefusesAccessTokensForgedAndUnknownTokens(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		s := e.signup(t, "ada@example.com", "secret1")
		e.refused(t, s.AccessToken)
		e.refused(t, "not.a.jwt")
		// Well signed, but never handed out by the store (no recorded jti).
		stray, _, err := e.tokens.Issue(auth.Refresh, s.User.ID, auth.RoleUser)
		if err != nil {
			t.Fatal(err)
		}
		e.refused(t, stray)
	})
}

func TestAnExpiredRefreshTokenIsRefused(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		s := e.signup(t, "ada@example.com", "secret1")
		e.clock.Advance(8 * 24 * time.Hour)
		e.refused(t, s.RefreshToken)
	})
}

func TestRefreshCarriesTheStoredRole(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		s := e.signup(t, "ada@example.com", "secret1")
		if err := e.store.SetRole(ctx, "ada@example.com", auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		next, err := e.store.Refresh(ctx, s.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := e.tokens.Verify(next.AccessToken, auth.Access); c.Role != auth.RoleAdmin || next.User.Role != auth.RoleAdmin {
			t.Fatalf("role after refresh: %+v", c)
		}
	})
}

func TestPruneForgetsExpiredTokensAndOldAttempts(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.signup(t, "ada@example.com", "secret1")
		if _, err := e.store.Login(ctx, "ada@example.com", "wrong-password", "192.0.2.1"); err == nil {
			t.Fatal("wrong password accepted")
		}
		count := func(table string) int {
			var n int
			if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if err := e.store.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if count("refresh_tokens") != 1 || count("login_attempts") != 1 {
			t.Fatal("prune removed live rows")
		}
		e.clock.Advance(8 * 24 * time.Hour)
		if err := e.store.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if n, m := count("refresh_tokens"), count("login_attempts"); n != 0 || m != 0 {
			t.Fatalf("left %d tokens and %d attempts", n, m)
		}
	})
}

// An access token names its login session, and the session stays alive through
// refreshes until it is revoked (a replay, a password change) or its last refresh token
// expires: what a reconnecting live connection with an expired token is judged by.
func TestASessionIsAliveUntilRevokedOrExpired(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alive := func(access string) bool {
			t.Helper()
			c, err := e.tokens.VerifyLapsed(access, auth.Access)
			if err != nil {
				t.Fatalf("lapsed access token: %v", err)
			}
			ok, err := e.store.SessionActive(ctx, c.UserID, c.Session)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		s := e.signup(t, "ada@example.com", "secret1")
		if !alive(s.AccessToken) {
			t.Fatal("a fresh login's session is not alive")
		}
		next, err := e.store.Refresh(ctx, s.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		c1, _ := e.tokens.Verify(s.AccessToken, auth.Access)
		c2, _ := e.tokens.Verify(next.AccessToken, auth.Access)
		if c1.Session == "" || c1.Session != c2.Session {
			t.Fatalf("a refresh must stay in the login's session: %q then %q", c1.Session, c2.Session)
		}
		e.clock.Advance(time.Hour) // both access tokens expired long ago
		if !alive(s.AccessToken) {
			t.Fatal("the session died with its access token")
		}
		if ok, _ := e.store.SessionActive(ctx, domain.NewID(), c1.Session); ok {
			t.Fatal("a session is alive for another user")
		}

		// Replaying a rotated refresh token revokes the family: the session is over.
		e.clock.Advance(accounts.DefaultRefreshGrace)
		e.refused(t, s.RefreshToken)
		if alive(next.AccessToken) {
			t.Fatal("a revoked session is still alive")
		}

		// A password change ends every session; an expired one is over too.
		other, err := e.store.Login(ctx, "ada@example.com", "secret1", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if !alive(other.AccessToken) {
			t.Fatal("a second login's session is not alive")
		}
		if _, err := e.store.UpdateMe(ctx, other.User.ID, account.Changes{Password: ptr("secret2")}); err != nil {
			t.Fatal(err)
		}
		if alive(other.AccessToken) {
			t.Fatal("a session outlived a password change")
		}
		third, err := e.store.Login(ctx, "ada@example.com", "secret2", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		c3, _ := e.tokens.Verify(third.AccessToken, auth.Access)
		e.clock.Advance(7*24*time.Hour + time.Minute)
		if ok, _ := e.store.SessionActive(ctx, c3.UserID, c3.Session); ok {
			t.Fatal("a session outlived its refresh tokens")
		}
	})
}
