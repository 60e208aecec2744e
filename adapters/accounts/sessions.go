package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain/account"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/projections"
)

func errRefresh() error { return domain.Errorf(domain.EUNAUTHORIZED, "Invalid refresh token") }

// startSession issues an access and a refresh token for u and records the refresh
// token in family (a new id for a login, the presented token's family for a refresh).
// It returns the session and the refresh token's id.
func (s *Store) startSession(ctx context.Context, tx *sql.Tx, u account.User, family string) (account.Session, string, error) {
	access, _, err := s.tokens.IssueInSession(auth.Access, u.ID, u.Role, family)
	if err != nil {
		return account.Session{}, "", err
	}
	refresh, rc, err := s.tokens.Issue(auth.Refresh, u.ID, u.Role)
	if err != nil {
		return account.Session{}, "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (id, user_id, family_id, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, rc.ID, u.ID, family, s.t(rc.IssuedAt), s.t(rc.ExpiresAt)); err != nil {
		return account.Session{}, "", fmt.Errorf("record refresh token: %w", err)
	}
	return account.Session{AccessToken: access, RefreshToken: refresh, User: u}, rc.ID, nil
}

// Refresh exchanges a refresh token for a new pair and rotates it:
//   - a token never exchanged before is marked rotated now;
//   - a token rotated less than the grace window ago is exchanged again (the PWA sends
//     the same token from every request that got a 401 at once), each time for a new
//     pair of the same family;
//   - a token rotated longer ago is being replayed, by an attacker or by a client that
//     lost its successor, and the whole family is revoked: every token descended from
//     that login stops working, the legitimate holder logs in again.
//
// Every refusal is EUNAUTHORIZED "Invalid refresh token", as in the original. The role
// in the new tokens is the stored one.
func (s *Store) Refresh(ctx context.Context, raw string) (account.Session, error) {
	cl, err := s.tokens.Verify(raw, auth.Refresh)
	if err != nil || !domain.ValidID(cl.ID) || !domain.ValidID(cl.UserID) {
		return account.Session{}, errRefresh()
	}
	now := s.clock()
	var sess account.Session
	var refused error // set when the refusal must still commit (a revocation)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			userID, family       string
			rotatedAt, revokedAt *time.Time
		)
		err := tx.QueryRowContext(ctx, `SELECT user_id, family_id, rotated_at, revoked_at FROM refresh_tokens WHERE id = $1`, cl.ID).
			Scan(&userID, &family, projections.ScanNullTime(&rotatedAt), projections.ScanNullTime(&revokedAt))
		if errors.Is(err, sql.ErrNoRows) {
			return errRefresh()
		}
		if err != nil {
			return fmt.Errorf("read refresh token: %w", err)
		}
		if revokedAt != nil || userID != cl.UserID {
			return errRefresh()
		}
		if rotatedAt != nil && now.Sub(*rotatedAt) > DefaultRefreshGrace {
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`,
				family, s.t(now)); err != nil {
				return fmt.Errorf("revoke token family: %w", err)
			}
			refused = errRefresh()
			return nil
		}
		u, err := s.userByID(ctx, tx, userID)
		if notFound(err) {
			return errRefresh()
		}
		if err != nil {
			return err
		}
		var next string
		if sess, next, err = s.startSession(ctx, tx, u, family); err != nil {
			return err
		}
		// Only the first exchange records its successor; exchanges within the grace
		// window leave rotated_at alone, so the window never slides.
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET rotated_at = $2, replaced_by = $3
			WHERE id = $1 AND rotated_at IS NULL`, cl.ID, s.t(now), next); err != nil {
			return fmt.Errorf("rotate refresh token: %w", err)
		}
		return nil
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return account.Session{}, fmt.Errorf("refresh: %w", err)
	}
	return sess, nil
}

// SessionActive reports whether the login session (refresh-token family) named by an
// access token is still alive for userID: some refresh token of it is neither revoked
// nor expired, so its holder could refresh right now. A replay, a password change or
// the end of the refresh lifetime ends the session. Live connections use it to honour
// an expired access token only for as long as revocation would let its holder refresh.
func (s *Store) SessionActive(ctx context.Context, userID, session string) (bool, error) {
	if !domain.ValidID(userID) || !domain.ValidID(session) {
		return false, nil
	}
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM refresh_tokens
		WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3 LIMIT 1`,
		session, userID, s.t(s.clock())).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read session: %w", err)
	}
	return true, nil
}

// Prune deletes refresh tokens that expired and login attempts older than the rate-limit
// window: neither can matter again. Run it periodically (hourly is plenty).
func (s *Store) Prune(ctx context.Context) error {
	now := s.clock()
	if _, err := s.write.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, s.t(now)); err != nil {
		return fmt.Errorf("prune refresh tokens: %w", err)
	}
	if _, err := s.write.ExecContext(ctx, `DELETE FROM login_attempts WHERE attempted_at <= $1`, s.t(now.Add(-s.limits().Window))); err != nil {
		return fmt.Errorf("prune login attempts: %w", err)
	}
	if _, err := s.write.ExecContext(ctx, `DELETE FROM signup_attempts WHERE attempted_at <= $1`, s.t(now.Add(-s.limits().Window))); err != nil {
		return fmt.Errorf("prune signup attempts: %w", err)
	}
	return nil
}
