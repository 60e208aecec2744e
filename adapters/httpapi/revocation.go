package httpapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// Revocations says up to when a user's tokens are revoked (zero: never). The accounts
// store implements it; deleting a user revokes their tokens.
type Revocations interface {
	RevokedUntil(ctx context.Context, userID string) (time.Time, error)
}

// revocationCache keeps each user's revocation time for a short while, so checking
// every request costs one indexed read per user per interval, not per request; a
// deleted or revoked user's tokens stop working within that interval.
type revocationCache struct {
	src Revocations
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]revocationEntry
}

type revocationEntry struct {
	until   time.Time
	checked time.Time
}

// maxCachedUsers bounds the cache; past it, stale entries are dropped.
const maxCachedUsers = 10000

func (r *revocationCache) check(ctx context.Context, cl auth.Claims) error {
	if r == nil {
		return nil
	}
	now := time.Now()
	r.mu.Lock()
	e, ok := r.entries[cl.UserID]
	r.mu.Unlock()
	if !ok || now.Sub(e.checked) > r.ttl {
		until, err := r.src.RevokedUntil(ctx, cl.UserID)
		if err != nil {
			if ctx.Err() != nil || domain.ErrorCode(err) != domain.EINTERNAL {
				return err
			}
			// The request cannot be authenticated until revocations can be read: that
			// is a dependency being away (the database restarting), not a bug.
			return fmt.Errorf("%w: %w", domain.Errorf(domain.EUNAVAILABLE, "Service temporarily unavailable"), err)
		}
		e = revocationEntry{until: until, checked: now}
		r.mu.Lock()
		if len(r.entries) >= maxCachedUsers {
			for id, old := range r.entries {
				if now.Sub(old.checked) > r.ttl {
					delete(r.entries, id)
				}
			}
		}
		if len(r.entries) < maxCachedUsers {
			r.entries[cl.UserID] = e
		}
		r.mu.Unlock()
	}
	// Token times are whole seconds: a token from the second of the revocation is
	// refused too.
	if !e.until.IsZero() && !cl.IssuedAt.After(e.until) {
		return domain.Errorf(domain.EUNAUTHORIZED, "Unauthorized")
	}
	return nil
}
