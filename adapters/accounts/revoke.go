package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// RevokedUntil returns the time up to which every token of the user is revoked (their
// tokens issued at or before it are refused), or the zero time when none is. Deleting
// a user revokes their tokens (a trigger does it, so a row deleted by hand counts too).
func (s *Store) RevokedUntil(ctx context.Context, userID string) (time.Time, error) {
	if !domain.ValidID(userID) {
		return time.Time{}, nil
	}
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT revoked_at FROM token_revocations WHERE user_id = $1`, userID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read token revocation: %w", err)
	}
	return time.Unix(at, 0), nil
}

// RevokeTokens ends every session of the user with this email now: refresh tokens at
// once, access tokens within the API's user-check interval. Logging in again works.
func (s *Store) RevokeTokens(ctx context.Context, email string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.userByEmail(ctx, tx, emailKey(email))
		if err != nil {
			return err
		}
		now := s.clock()
		if _, err := tx.ExecContext(ctx, `INSERT INTO token_revocations (user_id, revoked_at) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET revoked_at = excluded.revoked_at`, u.ID, now.Unix()); err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
			u.ID, s.t(now)); err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		return nil
	})
}
