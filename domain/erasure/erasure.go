// Package erasure forgets a user: their scans are deleted, their photos removed, their
// personal key destroyed (so every personal field sealed in their events is unreadable
// for good, while the events and their chain stay as they were) and their account and
// read rows deleted. It is the one implementation behind DELETE /api/v1/users/me and
// `scanledger forget`.
package erasure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/trail"
)

// Accounts is what erasure needs of the read-model database.
type Accounts interface {
	// CheckPassword confirms that password is userID's (domain.EUNAUTHORIZED if not),
	// counting it as a login attempt from clientIP.
	CheckPassword(ctx context.Context, userID, password, clientIP string) error
	// ScansOf lists the ids of userID's scans in the read model (not deleted ones).
	ScansOf(ctx context.Context, userID string) ([]string, error)
	// Forget deletes userID's account and every read row about them (houses, scans,
	// live-update feed, login attempts), in one transaction. A user already gone is not
	// an error.
	Forget(ctx context.Context, userID string) error
}

// Eraser forgets users. Every step can be repeated, so a Forget that failed half-way
// is finished by running it again.
type Eraser struct {
	Scans    *scan.Handler
	Blobs    blob.Store
	Keys     personal.Keys
	Accounts Accounts
	// Trail, when set, records each erasure (by user id only).
	Trail trail.Recorder
	// Settle bounds how long Forget waits for the read model to take the scans'
	// deletions (default 5 s) before it deletes the user's read rows itself; waiting
	// keeps the projectors from writing rows about the user after that.
	Settle time.Duration
	// Scrub, when set, runs last: it makes the database drop the bytes of deleted rows
	// (SQLite: overwritten pages, an emptied write-ahead log).
	Scrub func(ctx context.Context) error
}

// Who is the erasure's actor, for the events and the trail.
type Who struct {
	Meta     scan.Meta
	Role     string // user (themselves), operator (the command line)
	ClientIP string // where a user's request came from, for the password-guess limits
}

// ForgetConfirmed erases userID after they confirmed with their password: a stolen
// access token alone cannot erase an account.
func (e *Eraser) ForgetConfirmed(ctx context.Context, userID, password string, who Who) error {
	if err := e.Accounts.CheckPassword(ctx, userID, password, who.ClientIP); err != nil {
		return err
	}
	return e.Forget(ctx, userID, who)
}

// Forget erases userID.
func (e *Eraser) Forget(ctx context.Context, userID string, who Who) error {
	if !domain.ValidID(userID) {
		return domain.Errorf(domain.EINVALID, "user id must be a UUID")
	}
	ids, err := e.Accounts.ScansOf(ctx, userID)
	if err != nil {
		return fmt.Errorf("forget %s: %w", userID, err)
	}
	for _, id := range ids {
		_, err := e.Scans.Execute(ctx, id, who.Meta, func(s *scan.Scan) error {
			if s.Deleted {
				return nil
			}
			return s.Delete()
		})
		if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
			return fmt.Errorf("forget %s: delete scan %s: %w", userID, id, err)
		}
		if err := e.Blobs.DeletePrefix(ctx, "scans/"+id+"/"); err != nil {
			return fmt.Errorf("forget %s: photos of scan %s: %w", userID, id, err)
		}
	}
	e.settle(ctx, userID, len(ids))
	// The key goes before the read rows: a projector that writes a row of this user
	// after the delete below (it was behind) can only write personal.Erased.
	if err := e.Keys.Destroy(ctx, userID); err != nil {
		return fmt.Errorf("forget %s: %w", userID, err)
	}
	if err := e.Accounts.Forget(ctx, userID); err != nil {
		return fmt.Errorf("forget %s: %w", userID, err)
	}
	var errs []error
	if e.Trail != nil {
		if err := e.Trail.Record(ctx, trail.Entry{ActorID: who.Meta.UserID, ActorRole: who.Role, Action: trail.EraseUser,
			Subject: "user:" + userID, OwnerID: userID, RequestID: who.Meta.CorrelationID,
			Detail: fmt.Sprintf("%d scans deleted, personal key destroyed", len(ids))}); err != nil {
			errs = append(errs, fmt.Errorf("record erasure: %w", err))
		}
	}
	if e.Scrub != nil {
		if err := e.Scrub(ctx); err != nil {
			errs = append(errs, fmt.Errorf("scrub: %w", err))
		}
	}
	return errors.Join(errs...)
}

// settle waits, within Settle, until the read model no longer lists userID's scans.
// Running out of time is no error: the projectors may not be running at all (the
// command line while the service is down); their later rows hold no personal data.
func (e *Eraser) settle(ctx context.Context, userID string, n int) {
	if n == 0 {
		return
	}
	wait := e.Settle
	if wait == 0 {
		wait = 5 * time.Second
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if ids, err := e.Accounts.ScansOf(ctx, userID); err != nil || len(ids) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
