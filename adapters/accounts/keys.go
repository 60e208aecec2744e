package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/projections"
)

// Keys is the personal.Keys kept in the read-model database's personal_keys table: in
// embedded mode the same SQLite file as the events (so a backup holds both, consistent),
// in production the PostgreSQL read-model database. Never in the event tables, whose
// rows cannot be deleted.
type Keys struct {
	// Write and Read are the read-model database's handles, as for New.
	Write, Read projections.DB
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var _ personal.Keys = (*Keys)(nil)

func (k *Keys) now() time.Time {
	if k.Now == nil {
		return time.Now().UTC()
	}
	return k.Now().UTC()
}

// Key implements personal.Keys.
func (k *Keys) Key(ctx context.Context, userID string, create bool) ([]byte, error) {
	key, found, err := k.read(ctx, k.Read, userID)
	if err != nil || found || !create {
		if err == nil && !found {
			err = domain.Errorf(domain.ENOTFOUND, "no personal key for user %s", userID)
		}
		return key, err
	}
	fresh, err := personal.NewKey()
	if err != nil {
		return nil, err
	}
	// Two first writes at once: one key wins, both return it.
	if _, err := k.Write.ExecContext(ctx, `INSERT INTO personal_keys (user_id, key, created_at)
		VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING`, userID, fresh, k.Write.Dialect.Time(k.now())); err != nil {
		return nil, fmt.Errorf("create personal key: %w", err)
	}
	key, _, err = k.read(ctx, k.Write, userID)
	return key, err
}

func (k *Keys) read(ctx context.Context, db projections.DB, userID string) ([]byte, bool, error) {
	var key []byte
	var destroyed sql.NullString
	err := db.QueryRowContext(ctx, `SELECT key, CAST(destroyed_at AS TEXT) FROM personal_keys WHERE user_id = $1`, userID).Scan(&key, &destroyed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read personal key: %w", err)
	case destroyed.Valid:
		return nil, true, personal.ErrErased
	}
	return key, true, nil
}

// Destroy implements personal.Keys. The row stays, without its key, so that the user
// is known to be forgotten.
func (k *Keys) Destroy(ctx context.Context, userID string) error {
	now := k.Write.Dialect.Time(k.now())
	if _, err := k.Write.ExecContext(ctx, `INSERT INTO personal_keys (user_id, key, created_at, destroyed_at)
		VALUES ($1, NULL, $2, $2)
		ON CONFLICT (user_id) DO UPDATE SET key = NULL, destroyed_at = COALESCE(personal_keys.destroyed_at, excluded.destroyed_at)`,
		userID, now); err != nil {
		return fmt.Errorf("destroy personal key: %w", err)
	}
	return nil
}
