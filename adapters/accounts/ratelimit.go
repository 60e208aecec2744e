package accounts

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain/account"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/projections"
)

// attempt is a login attempt in progress.
type attempt struct {
	id, emailKey, ip string
}

// beginAttempt records a login attempt and refuses it when the email or the address
// already has its limit of unsuccessful attempts in the window. The row is written
// before counting, so a burst of parallel guesses counts every guess: at most the
// limit's worth of them ever reach the password check. A refused attempt's row is
// removed again, so hammering a locked account does not extend the lock-out.
func (s *Store) beginAttempt(ctx context.Context, key, ip string) (attempt, error) {
	if ip == "" {
		ip = "unknown"
	}
	a := attempt{id: domain.NewID(), emailKey: key, ip: ip}
	now := s.clock()
	if _, err := s.write.ExecContext(ctx, `INSERT INTO login_attempts (id, email_key, ip, attempted_at) VALUES ($1, $2, $3, $4)`,
		a.id, key, ip, s.t(now)); err != nil {
		return attempt{}, fmt.Errorf("record login attempt: %w", err)
	}
	since := s.t(now.Add(-s.limits().Window))
	wait, err := s.overLimit(ctx, `SELECT count(*), min(attempted_at) FROM login_attempts WHERE email_key = $1 AND attempted_at > $2`,
		key, since, s.limits().PerEmail, now)
	if err == nil && wait == 0 {
		wait, err = s.overLimit(ctx, `SELECT count(*), min(attempted_at) FROM login_attempts WHERE ip = $1 AND attempted_at > $2`,
			ip, since, s.limits().PerIP, now)
	}
	if err == nil && wait == 0 {
		return a, nil
	}
	if _, derr := s.write.ExecContext(ctx, `DELETE FROM login_attempts WHERE id = $1`, a.id); derr != nil && err == nil {
		err = fmt.Errorf("drop refused login attempt: %w", derr)
	}
	if err != nil {
		return attempt{}, err
	}
	minutes := int((wait + time.Minute - 1) / time.Minute)
	unit := "minutes"
	if minutes == 1 {
		unit = "minute"
	}
	return attempt{}, account.RateLimited(wait,
		"Too many failed login attempts. Try again in %d %s.", minutes, unit)
}

// overLimit counts the attempts query selects (this one included) and returns, when
// there are more than limit, how long until the oldest leaves the window; 0 otherwise.
// A limit of 0 or less is no limit.
func (s *Store) overLimit(ctx context.Context, query, key string, since any, limit int, now time.Time) (time.Duration, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	var oldest *time.Time
	if err := s.read.QueryRowContext(ctx, query, key, since).Scan(&n, projections.ScanNullTime(&oldest)); err != nil {
		return 0, fmt.Errorf("count login attempts: %w", err)
	}
	if n <= limit || oldest == nil {
		return 0, nil
	}
	return max(time.Second, oldest.Add(s.limits().Window).Sub(now)), nil
}

// succeeded forgets the failures of this email from this address, so a user who finally
// types the right password starts afresh. Failures from other addresses stay: they may
// be someone else's guesses.
func (s *Store) succeeded(ctx context.Context, tx *sql.Tx, a attempt) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM login_attempts WHERE email_key = $1 AND ip = $2`, a.emailKey, a.ip); err != nil {
		return fmt.Errorf("clear login attempts: %w", err)
	}
	return nil
}

// countSignup records a signup from ip and refuses it when the address already has its
// limit of signups in the window. Like login attempts, the row is written before
// counting, so parallel signups all count; a refused one is removed again.
func (s *Store) countSignup(ctx context.Context, ip string) error {
	if s.limits().SignupsPerIP <= 0 {
		return nil
	}
	if ip == "" {
		ip = "unknown"
	}
	id, now := domain.NewID(), s.clock()
	if _, err := s.write.ExecContext(ctx, `INSERT INTO signup_attempts (id, ip, attempted_at) VALUES ($1, $2, $3)`,
		id, ip, s.t(now)); err != nil {
		return fmt.Errorf("record signup: %w", err)
	}
	wait, err := s.overLimit(ctx, `SELECT count(*), min(attempted_at) FROM signup_attempts WHERE ip = $1 AND attempted_at > $2`,
		ip, s.t(now.Add(-s.limits().Window)), s.limits().SignupsPerIP, now)
	if err == nil && wait == 0 {
		return nil
	}
	if _, derr := s.write.ExecContext(ctx, `DELETE FROM signup_attempts WHERE id = $1`, id); derr != nil && err == nil {
		err = fmt.Errorf("drop refused signup: %w", derr)
	}
	if err != nil {
		return err
	}
	minutes := int((wait + time.Minute - 1) / time.Minute)
	return account.RateLimited(wait,
		"Too many signups from this address. Try again in %d minutes.", minutes)
}
