package accounts_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
)

// Signups are limited per client address, counted in the database so every instance
// sharing it enforces one limit; other addresses are not affected.
func TestSignupsAreLimitedPerAddressAcrossInstances(t *testing.T) {
	limits := accounts.DefaultLoginLimits()
	limits.SignupsPerIP = 3
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		other := accounts.New(e.db, e.db, e.tokens)
		other.Now, other.HashParams, other.LoginLimits = e.clock.Now, cheapHash, limits
		for i, s := range []*accounts.Store{e.store, other, e.store} {
			if _, err := s.Signup(ctx, account.NewUser{Email: fmt.Sprintf("u%d@example.com", i), Password: "secret1", ClientIP: "192.0.2.1"}); err != nil {
				t.Fatalf("signup %d: %v", i, err)
			}
		}
		_, err := other.Signup(ctx, account.NewUser{Email: "u9@example.com", Password: "secret1", ClientIP: "192.0.2.1"})
		if domain.ErrorCode(err) != domain.ERATELIMIT {
			t.Fatalf("fourth signup from one address: %v, want rate limited", err)
		}
		if _, err := e.store.Signup(ctx, account.NewUser{Email: "v@example.com", Password: "secret1", ClientIP: "192.0.2.2"}); err != nil {
			t.Fatalf("signup from another address: %v", err)
		}
		e.clock.Advance(limits.Window + time.Second)
		if _, err := e.store.Signup(ctx, account.NewUser{Email: "u10@example.com", Password: "secret1", ClientIP: "192.0.2.1"}); err != nil {
			t.Fatalf("signup after the window: %v", err)
		}
	}, withLimits(limits))
}

// A flood of signups (from many addresses, so the per-address limit does not stop it)
// with the real hash cost cannot starve logins: signups hash on a lane of their own.
// The figures are logged (go test -run TestLoginsAreServedDuringASignupFlood -v).
func TestLoginsAreServedDuringASignupFlood(t *testing.T) {
	w, r := newSQLite(t)
	limits := accounts.DefaultLoginLimits()
	limits.SignupsPerIP = 0
	issuer := &token.Issuer{Secret: []byte("accounts-test-secret-0123456789"), Issuer: "scanledger", Audience: "scanledger-users"}
	s := accounts.New(w, r, issuer)
	s.LoginLimits = limits
	ctx := context.Background()
	if _, err := s.Signup(ctx, account.NewUser{Email: "real@example.com", Password: "secret12", ClientIP: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	const flood = 16
	var wg sync.WaitGroup
	var signedUp atomic.Int64
	start := time.Now()
	floodDone := make(chan struct{})
	for i := 0; i < flood; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Signup(ctx, account.NewUser{Email: fmt.Sprintf("f%d@example.com", i), Password: "secret12", ClientIP: fmt.Sprintf("203.0.113.%d", i)}); err == nil {
				signedUp.Add(1)
			}
		}()
	}
	go func() { wg.Wait(); close(floodDone) }()
	logins, slowest := 0, time.Duration(0)
	for done := false; !done; {
		select {
		case <-floodDone:
			done = true
		default:
		}
		t0 := time.Now()
		if _, err := s.Login(ctx, "real@example.com", "secret12", "198.51.100.1"); err != nil {
			t.Fatalf("login during the flood: %v", err)
		}
		logins++
		slowest = max(slowest, time.Since(t0))
	}
	took := time.Since(start)
	t.Logf("%d signups in %v; %d logins served meanwhile, slowest %v", signedUp.Load(), took.Round(time.Millisecond), logins, slowest.Round(time.Millisecond))
	// Signups may use at most one hashing lane, so logins take turns with at most one
	// signup: at least one login per two signups' worth of hashing gets through.
	if logins < flood/4 {
		t.Fatalf("only %d logins were served during %d signups", logins, flood)
	}
}
