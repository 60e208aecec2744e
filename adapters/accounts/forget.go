package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scanledger/scanledger/domain"
)

// CheckPassword confirms that password is userID's, before an irreversible change
// (deleting the account): "Invalid credentials" otherwise, as a failed login says. It
// counts as a login attempt of the user's email from clientIP, so a stolen access token
// cannot be used to guess the password past the login limits (*RateLimitError).
func (s *Store) CheckPassword(ctx context.Context, userID, password, clientIP string) error {
	var key, hash string
	err := s.read.QueryRowContext(ctx, `SELECT email_key, password_hash FROM users WHERE id = $1`, userID).Scan(&key, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return errUserNotFound()
	}
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	attempt, err := s.beginAttempt(ctx, key, clientIP)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	match, _, err := s.hasher().verify(ctx, hash, password)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	if !match {
		return errCredentials() // the attempt row stays: it is a failure
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.succeeded(ctx, tx, attempt) })
}

// UserIDByEmail returns the id of the user with email (any letter case).
func (s *Store) UserIDByEmail(ctx context.Context, email string) (string, error) {
	u, err := s.userByEmail(ctx, s.read, emailKey(email))
	return u.ID, err
}

// ScansOf lists userID's scans in the read model (erasure.Accounts).
func (s *Store) ScansOf(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM scans WHERE user_id = $1 ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("scans of %s: %w", userID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scans of %s: %w", userID, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Forget deletes userID's account and every read row about them, in one transaction
// (erasure.Accounts). Deleting the user revokes their tokens (a trigger) and their
// sessions and checklists (cascades). Their houses, the scans of those houses and of
// the user, and the rooms, photos' rows, summaries and agent runs of those scans are
// deleted here, children first: the read model's scan tables have no foreign keys on
// PostgreSQL, so nothing cascades. The projectors' own deletes of the same rows, when
// they get to the scans' Deleted events, find nothing left.
func (s *Store) Forget(ctx context.Context, userID string) error {
	if !domain.ValidID(userID) {
		return errUserNotFound()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var key sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT email_key FROM users WHERE id = $1`, userID).Scan(&key); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("forget user: %w", err)
		}
		const theirScans = `(SELECT id FROM scans WHERE user_id = $1 OR house_id IN (SELECT id FROM houses WHERE user_id = $1))`
		stmts := []string{
			`DELETE FROM house_room_images WHERE scan_id IN ` + theirScans,
			`DELETE FROM rooms WHERE scan_id IN ` + theirScans,
			`DELETE FROM house_scan_summary WHERE scan_id IN ` + theirScans,
			`DELETE FROM agents_runs WHERE scan_id IN ` + theirScans,
			`DELETE FROM scans WHERE id IN ` + theirScans,
			`DELETE FROM houses WHERE user_id = $1`,
			`DELETE FROM user_feed WHERE user_id = $1`,
			`DELETE FROM user_feed_scans WHERE user_id = $1`,
			`DELETE FROM user_feed_cursors WHERE user_id = $1`,
			`DELETE FROM users WHERE id = $1`,
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("forget user: %w", err)
			}
		}
		if key.Valid {
			if _, err := tx.ExecContext(ctx, `DELETE FROM login_attempts WHERE email_key = $1`, key.String); err != nil {
				return fmt.Errorf("forget user: %w", err)
			}
		}
		return nil
	})
}
