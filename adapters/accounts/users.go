package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/scanledger/scanledger/domain/account"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/projections"
)

// The errors are built per call, never shared: a caller may annotate what it gets.
func errEmailTaken() error {
	return domain.Errorf(domain.ECONFLICT, "User with this email already exists")
}
func errUserNotFound() error { return domain.Errorf(domain.ENOTFOUND, "User not found") }
func errCredentials() error  { return domain.Errorf(domain.EUNAUTHORIZED, "Invalid credentials") }

// notFound reports whether err is ENOTFOUND: a missing row, from this package's reads.
func notFound(err error) bool { return domain.ErrorCode(err) == domain.ENOTFOUND }

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func checkNames(names ...*string) error {
	for _, n := range names {
		if n != nil && utf8.RuneCountInString(*n) > account.MaxNameLength {
			return domain.Errorf(domain.EINVALID, "names must be shorter than or equal to %d characters", account.MaxNameLength)
		}
		if n != nil {
			if err := domain.CheckText("names", *n); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPassword(p string) error {
	switch n := utf8.RuneCountInString(p); {
	case n < account.MinPasswordLength:
		return domain.Errorf(domain.EINVALID, "password must be longer than or equal to %d characters", account.MinPasswordLength)
	case n > account.MaxPasswordLength:
		return domain.Errorf(domain.EINVALID, "password must be shorter than or equal to %d characters", account.MaxPasswordLength)
	}
	return nil
}

// Signup creates a user with role user and starts a session. An email already in use,
// in any letter case, is ECONFLICT.
func (s *Store) Signup(ctx context.Context, in account.NewUser) (account.Session, error) {
	email := strings.TrimSpace(in.Email)
	if !account.ValidEmail(email) {
		return account.Session{}, domain.Errorf(domain.EINVALID, "email must be an email")
	}
	if err := checkPassword(in.Password); err != nil {
		return account.Session{}, err
	}
	if err := checkNames(in.FirstName, in.LastName); err != nil {
		return account.Session{}, err
	}
	key := emailKey(email)
	// Checked first only to spare the hash; the insert below decides.
	if _, err := s.userByEmail(ctx, s.read, key); err == nil {
		return account.Session{}, errEmailTaken()
	} else if !notFound(err) {
		return account.Session{}, err
	}
	if err := s.countSignup(ctx, in.ClientIP); err != nil {
		return account.Session{}, err
	}
	select {
	case s.signupLane <- struct{}{}:
	case <-ctx.Done():
		return account.Session{}, fmt.Errorf("signup: %w", ctx.Err())
	}
	hash, err := s.hasher().hash(ctx, in.Password)
	<-s.signupLane
	if err != nil {
		return account.Session{}, err
	}
	now := s.clock()
	u := account.User{ID: domain.NewID(), Email: email, FirstName: in.FirstName, LastName: in.LastName, Role: auth.RoleUser,
		CreatedAt: now, UpdatedAt: now}
	var sess account.Session
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// DO NOTHING rather than a unique-violation error: the engines report those
		// differently, and a row count says the same thing.
		if err := execOne(ctx, tx, errEmailTaken(), "insert user", `INSERT INTO users (id, email, email_key, first_name, last_name, password_hash, role, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
			u.ID, u.Email, key, u.FirstName, u.LastName, hash, u.Role, s.t(now), s.t(now)); err != nil {
			return err
		}
		var err error
		sess, _, err = s.startSession(ctx, tx, u, domain.NewID())
		return err
	})
	if err != nil {
		return account.Session{}, fmt.Errorf("signup: %w", err)
	}
	return sess, nil
}

// Login checks an email and password and starts a session. Wrong password and unknown
// email are the same EUNAUTHORIZED "Invalid credentials", in the same time. Too many
// failures for the email or from clientIP give a *RateLimitError (ERATELIMIT), checked
// before the password so a locked-out account cannot be probed.
func (s *Store) Login(ctx context.Context, email, password, clientIP string) (account.Session, error) {
	if err := domain.CheckText("email", email); err != nil {
		return account.Session{}, err // no database can look it up, and no user can have it
	}
	key := emailKey(email)
	attempt, err := s.beginAttempt(ctx, key, clientIP)
	if err != nil {
		return account.Session{}, fmt.Errorf("login: %w", err)
	}
	u, hash, err := s.userWithHash(ctx, key)
	if notFound(err) {
		if err := s.hasher().burn(ctx, password); err != nil {
			return account.Session{}, fmt.Errorf("login: %w", err)
		}
		return account.Session{}, errCredentials()
	}
	if err != nil {
		return account.Session{}, fmt.Errorf("login: %w", err)
	}
	match, rehash, err := s.hasher().verify(ctx, hash, password)
	if err != nil {
		return account.Session{}, fmt.Errorf("login: %w", err)
	}
	if !match {
		return account.Session{}, errCredentials() // the attempt row stays: it is a failure
	}
	var newHash string
	if rehash {
		if newHash, err = s.hasher().hash(ctx, password); err != nil {
			return account.Session{}, fmt.Errorf("login: %w", err)
		}
	}
	var sess account.Session
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.succeeded(ctx, tx, attempt); err != nil {
			return err
		}
		if newHash != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3`,
				u.ID, newHash, hash); err != nil {
				return fmt.Errorf("rehash password: %w", err)
			}
		}
		sess, _, err = s.startSession(ctx, tx, u, domain.NewID())
		return err
	})
	if err != nil {
		return account.Session{}, fmt.Errorf("login: %w", err)
	}
	return sess, nil
}

// Me returns the user's profile: ENOTFOUND "User not found" for an unknown id.
func (s *Store) Me(ctx context.Context, userID string) (account.Profile, error) {
	if !domain.ValidID(userID) {
		return account.Profile{}, errUserNotFound()
	}
	// One snapshot, so the houses and checklists belong to the user read.
	tx, err := s.read.BeginTx(ctx, s.read.Dialect.ReadTx())
	if err != nil {
		return account.Profile{}, fmt.Errorf("me: %w", err)
	}
	defer tx.Rollback()
	var p account.Profile
	if p.User, err = s.userByID(ctx, tx, userID); err != nil {
		return account.Profile{}, fmt.Errorf("me: %w", err)
	}
	if p.Houses, err = s.houses(ctx, tx, userID); err != nil {
		return account.Profile{}, fmt.Errorf("me: %w", err)
	}
	if p.Checklists, err = s.checklists(ctx, tx, `SELECT `+checklistSummaryColumns+` FROM checklists
		WHERE user_id = $1 AND NOT is_base ORDER BY created_at DESC, id`, false, userID); err != nil {
		return account.Profile{}, fmt.Errorf("me: %w", err)
	}
	return p, nil
}

func (s *Store) houses(ctx context.Context, q queryer, userID string) ([]account.House, error) {
	out, err := projections.List(ctx, q.QueryContext, `SELECT h.id, h.address, h.house_type, h.status, h.created_at, h.updated_at,
		(SELECT count(*) FROM scans WHERE scans.house_id = h.id)
		FROM houses h WHERE h.user_id = $1 ORDER BY h.updated_at DESC, h.id`, []any{userID},
		func(rows *sql.Rows, h *account.House) error {
			return rows.Scan(&h.ID, &h.Address, &h.HouseType, &h.Status, projections.ScanTime(&h.CreatedAt),
				projections.ScanTime(&h.UpdatedAt), &h.Scans)
		})
	if err != nil {
		return nil, fmt.Errorf("houses: %w", err)
	}
	return out, nil
}

// UpdateMe applies changes to the user and returns it. An email another user has, in
// any letter case, is ECONFLICT. A new password ends every session of the user: whoever
// knew the old one must not keep a refresh token.
func (s *Store) UpdateMe(ctx context.Context, userID string, ch account.Changes) (account.User, error) {
	if !domain.ValidID(userID) {
		return account.User{}, errUserNotFound()
	}
	if err := checkNames(ch.FirstName, ch.LastName); err != nil {
		return account.User{}, err
	}
	var email, key *string
	if ch.Email != nil {
		e := strings.TrimSpace(*ch.Email)
		if !account.ValidEmail(e) {
			return account.User{}, domain.Errorf(domain.EINVALID, "email must be an email")
		}
		k := emailKey(e)
		email, key = &e, &k
	}
	var hash *string
	if ch.Password != nil {
		if err := checkPassword(*ch.Password); err != nil {
			return account.User{}, err
		}
		h, err := s.hasher().hash(ctx, *ch.Password)
		if err != nil {
			return account.User{}, fmt.Errorf("update user: %w", err)
		}
		hash = &h
	}
	now := s.clock()
	var u account.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if key != nil {
			if other, err := s.userByEmail(ctx, tx, *key); err == nil && other.ID != userID {
				return errEmailTaken()
			} else if err != nil && !notFound(err) {
				return err
			}
		}
		if err := execOne(ctx, tx, errUserNotFound(), "update user", `UPDATE users SET email = COALESCE($2, email), email_key = COALESCE($3, email_key),
			first_name = COALESCE($4, first_name), last_name = COALESCE($5, last_name),
			password_hash = COALESCE($6, password_hash), updated_at = $7 WHERE id = $1`,
			userID, email, key, ch.FirstName, ch.LastName, hash, s.t(now)); err != nil {
			return err
		}
		if hash != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
				userID, s.t(now)); err != nil {
				return fmt.Errorf("revoke sessions: %w", err)
			}
		}
		var err error
		u, err = s.userByID(ctx, tx, userID)
		return err
	})
	if err != nil && key != nil && domain.ErrorCode(err) == domain.EINTERNAL {
		// Two users taking the same email at once: the unique index refused the second,
		// whose engine-specific error is not worth decoding. Ask the question again.
		if other, lerr := s.userByEmail(ctx, s.read, *key); lerr == nil && other.ID != userID {
			return account.User{}, errEmailTaken()
		}
	}
	if err != nil {
		return account.User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// Role returns the user's role as stored: what admin-only actions trust, never the
// token's copy, which outlives a demotion.
func (s *Store) Role(ctx context.Context, userID string) (string, error) {
	if !domain.ValidID(userID) {
		return "", errUserNotFound()
	}
	return s.role(ctx, s.read, userID)
}

func (s *Store) role(ctx context.Context, q queryer, userID string) (string, error) {
	var role string
	err := q.QueryRowContext(ctx, `SELECT role FROM users WHERE id = $1`, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errUserNotFound()
	}
	if err != nil {
		return "", fmt.Errorf("read role: %w", err)
	}
	return role, nil
}

// SetRole gives the user with this email a role (user, admin, auditor, analyst): the
// only way to make an admin, for an operator's command, since the API never grants
// roles.
func (s *Store) SetRole(ctx context.Context, email, role string) error {
	if !auth.ValidRole(role) {
		return domain.Errorf(domain.EINVALID, "unknown role %q (user, admin, auditor, analyst)", role)
	}
	return execOne(ctx, s.write, errUserNotFound(), "set role", `UPDATE users SET role = $2, updated_at = $3 WHERE email_key = $1`,
		emailKey(email), role, s.t(s.clock()))
}

// execOne runs a statement that must change a row: none is the error when it changed
// none; what names the statement in other errors.
func execOne(ctx context.Context, q queryer, none error, what, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return none
	}
	return nil
}

const userColumns = `id, email, first_name, last_name, role, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }, u *account.User, extra ...any) error {
	return row.Scan(append([]any{&u.ID, &u.Email, &u.FirstName, &u.LastName, &u.Role,
		projections.ScanTime(&u.CreatedAt), projections.ScanTime(&u.UpdatedAt)}, extra...)...)
}

func (s *Store) userByID(ctx context.Context, q queryer, id string) (account.User, error) {
	return userRow(ctx, q, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

func (s *Store) userByEmail(ctx context.Context, q queryer, key string) (account.User, error) {
	return userRow(ctx, q, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, key)
}

func (s *Store) userWithHash(ctx context.Context, key string) (account.User, string, error) {
	var hash string
	u, err := userRow(ctx, s.read, `SELECT `+userColumns+`, password_hash FROM users WHERE email_key = $1`, key, &hash)
	if err != nil {
		return account.User{}, "", err
	}
	return u, hash, nil
}

// userRow reads the one user query selects by arg (userColumns, then extra's columns);
// none is ENOTFOUND "User not found".
func userRow(ctx context.Context, q queryer, query, arg string, extra ...any) (account.User, error) {
	var u account.User
	err := scanUser(q.QueryRowContext(ctx, query, arg), &u, extra...)
	if errors.Is(err, sql.ErrNoRows) {
		return account.User{}, errUserNotFound()
	}
	if err != nil {
		return account.User{}, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// emailKey is the form emails are compared in: trimmed and lower-cased, in Go, so that
// both engines agree on which addresses are the same.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
