package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
)

var limits = accounts.LoginLimits{PerEmail: 3, PerIP: 5, Window: 15 * time.Minute}

func login(e *env, email, password, ip string) error {
	_, err := e.store.Login(context.Background(), email, password, ip)
	return err
}

func TestLoginIsRefusedAfterTooManyFailuresForOneEmail(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		for i := range 3 {
			if err := login(e, "ada@example.com", "wrong-password", fmt.Sprintf("192.0.2.%d", i)); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		// Even the right password, from yet another address: the account is locked.
		err := login(e, "ADA@example.com", "secret1", "198.51.100.7")
		var rl *account.RateLimitError
		if domain.ErrorCode(err) != domain.ERATELIMIT || !errors.As(err, &rl) ||
			rl.RetryAfter <= 0 || rl.RetryAfter > limits.Window ||
			domain.ErrorMessage(err) != "Too many failed login attempts. Try again in 15 minutes." {
			t.Fatalf("got %v", err)
		}
		// Refused attempts do not extend the lock: it ends a window after the first failure.
		e.clock.Advance(limits.Window + time.Second)
		if err := login(e, "ada@example.com", "secret1", "198.51.100.7"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	}, withLimits(limits))
}

func TestLoginIsRefusedAfterTooManyFailuresFromOneAddress(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		for i := range 5 {
			if err := login(e, fmt.Sprintf("guess%d@example.com", i), "secret1", "203.0.113.9"); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		if err := login(e, "ada@example.com", "secret1", "203.0.113.9"); domain.ErrorCode(err) != domain.ERATELIMIT {
			t.Fatalf("from the sprayer's address: %v", err)
		}
		if err := login(e, "ada@example.com", "secret1", "192.0.2.1"); err != nil {
			t.Fatalf("from another address: %v", err)
		}
	}, withLimits(limits))
}

func TestASuccessfulLoginClearsThatAddressesFailuresForTheEmail(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		for range 2 {
			_ = login(e, "ada@example.com", "typo-password", "192.0.2.1")
		}
		if err := login(e, "ada@example.com", "secret1", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := login(e, "ada@example.com", "typo-password", "192.0.2.1"); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
				t.Fatalf("failure %d after a success: %v", i, err)
			}
		}
	}, withLimits(limits))
}

func TestParallelGuessesNeverGetMoreThanTheLimitChecked(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		const n = 12
		errs := make(chan error, n)
		for i := range n {
			go func() { errs <- login(e, "ada@example.com", "wrong-password", fmt.Sprintf("192.0.2.%d", i)) }()
		}
		checked := 0
		for range n {
			switch err := <-errs; domain.ErrorCode(err) {
			case domain.EUNAUTHORIZED:
				checked++
			case domain.ERATELIMIT:
			default:
				t.Fatalf("unexpected: %v", err)
			}
		}
		if checked > limits.PerEmail {
			t.Fatalf("%d guesses were checked, limit %d", checked, limits.PerEmail)
		}
	}, withLimits(limits))
}
