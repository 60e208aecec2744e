package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scanledger/scanledger/domain/account"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/checklist"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/trail"
	"github.com/scanledger/scanledger/projections"
)

func errChecklistNotFound() error { return domain.Errorf(domain.ENOTFOUND, "Checklist not found") }
func errNotAdmin() error {
	return domain.Errorf(domain.EFORBIDDEN, "Only admins can update base checklists")
}

const (
	checklistColumns        = `id, scope, name, version, is_base, user_id, items_raw, created_at, enabled`
	checklistSummaryColumns = `id, scope, name, version, is_base, user_id, created_at, enabled`
	// scopeOrder sorts scopes as the original's Postgres enum did (house, room,
	// product), not alphabetically.
	scopeOrder = `CASE scope WHEN 'house' THEN 0 WHEN 'room' THEN 1 ELSE 2 END`
)

// EnsureDefaults stores the shipped default base checklist (checklist.Defaults) at
// version 1 for every scope that has no base checklist yet. Call it at start-up; it is
// safe to run from several instances at once, and never replaces an admin's upload.
func (s *Store) EnsureDefaults(ctx context.Context) error {
	defaults, err := checklist.Defaults()
	if err != nil {
		return fmt.Errorf("default checklists: %w", err)
	}
	now := s.clock()
	for _, sc := range checklist.Scopes() {
		// The unique index on base rows per scope turns an existing base into a no-op.
		if _, err := s.write.ExecContext(ctx, `INSERT INTO checklists (id, scope, name, version, is_base, user_id, items_raw, created_at)
			VALUES ($1, $2, $3, 1, TRUE, NULL, $4, $5) ON CONFLICT DO NOTHING`,
			domain.NewID(), string(sc), baseName(string(sc)), s.write.Dialect.JSON(defaults[sc]), s.t(now)); err != nil {
			return fmt.Errorf("seed default %s checklist: %w", sc, err)
		}
	}
	return nil
}

func baseName(scope string) string   { return "Base " + scope + " checklist" }
func customName(scope string) string { return "Custom " + scope + " checklist" }

// BaseChecklist returns the scope's enabled base checklist with the highest version, or
// nil when there is none. An unknown scope is EINVALID.
func (s *Store) BaseChecklist(ctx context.Context, scope string) (*account.Checklist, error) {
	if _, err := checklist.ParseScope(scope); err != nil {
		return nil, err
	}
	c, err := s.checklist(ctx, s.read, `SELECT `+checklistColumns+` FROM checklists
		WHERE is_base AND enabled AND scope = $1 ORDER BY version DESC, created_at DESC LIMIT 1`, scope)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("base checklist: %w", err)
	}
	return &c, nil
}

// PutBaseChecklist updates the scope's base checklist, or creates it (name "Base
// <scope> checklist", version 1, items {} unless given), and enables it: an upload is
// meant to be in effect. Only a user whose stored role is admin may: EFORBIDDEN
// otherwise, whatever the caller's token says. The change is recorded in the access
// trail before it is made.
func (s *Store) PutBaseChecklist(ctx context.Context, actorID, scope string, p account.ChecklistPatch) (account.Checklist, error) {
	actor := account.Actor{ID: actorID, Role: auth.RoleAdmin}
	if _, err := checklist.ParseScope(scope); err != nil {
		return account.Checklist{}, err
	}
	isAdmin := func(q queryer) error {
		if !domain.ValidID(actor.ID) {
			return errNotAdmin()
		}
		role, err := s.role(ctx, q, actor.ID)
		if notFound(err) || err == nil && role != auth.RoleAdmin {
			return errNotAdmin()
		}
		return err
	}
	if err := isAdmin(s.read); err != nil {
		return account.Checklist{}, fmt.Errorf("put base checklist: %w", err)
	}
	if err := p.Check(scope); err != nil {
		return account.Checklist{}, err
	}
	if err := s.record(ctx, actor, trail.ChangeBaseList, "checklist:base:"+scope, "uploaded the base "+scope+" checklist"+p.Changed()); err != nil {
		return account.Checklist{}, fmt.Errorf("put base checklist: %w", err)
	}
	var out account.Checklist
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := isAdmin(tx); err != nil {
			return err
		}
		cur, err := s.upsert(ctx, tx, scope, nil, p)
		if err != nil {
			return err
		}
		if !cur.Enabled {
			if _, err := tx.ExecContext(ctx, `UPDATE checklists SET enabled = TRUE WHERE id = $1`, cur.ID); err != nil {
				return fmt.Errorf("enable checklist: %w", err)
			}
			cur.Enabled = true
		}
		out = cur
		return nil
	})
	if err != nil {
		return account.Checklist{}, fmt.Errorf("put base checklist: %w", err)
	}
	return out, nil
}

// PutCustomChecklist updates the user's custom checklist for the scope, or creates it
// (name "Custom <scope> checklist", version 1, items {} unless given).
func (s *Store) PutCustomChecklist(ctx context.Context, userID, scope string, p account.ChecklistPatch) (account.Checklist, error) {
	if _, err := checklist.ParseScope(scope); err != nil {
		return account.Checklist{}, err
	}
	if err := p.Check(scope); err != nil {
		return account.Checklist{}, err
	}
	if !domain.ValidID(userID) {
		return account.Checklist{}, errUserNotFound()
	}
	var out account.Checklist
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// A custom row must belong to a stored user (foreign key); a token for a user
		// that was never signed up gets a clear 404 instead of a constraint failure.
		if _, err := s.userByID(ctx, tx, userID); err != nil {
			return err
		}
		var err error
		out, err = s.upsert(ctx, tx, scope, &userID, p)
		return err
	})
	if err != nil {
		return account.Checklist{}, fmt.Errorf("put custom checklist: %w", err)
	}
	return out, nil
}

// upsert updates the scope's base row (owner nil) or the owner's custom row for the
// scope, the highest version if there were several, or inserts it when there is none.
// The insert does nothing when a concurrent request created the row first (unique
// indexes on one base per scope and one custom per user and scope), and the loop then
// updates that row.
func (s *Store) upsert(ctx context.Context, tx *sql.Tx, scope string, owner *string, p account.ChecklistPatch) (account.Checklist, error) {
	query := `SELECT ` + checklistColumns + ` FROM checklists WHERE is_base AND scope = $1`
	args, defaultName := []any{scope}, baseName(scope)
	if owner != nil {
		query = `SELECT ` + checklistColumns + ` FROM checklists WHERE NOT is_base AND scope = $1 AND user_id = $2`
		args, defaultName = []any{scope, *owner}, customName(scope)
	}
	query += ` ORDER BY version DESC, created_at DESC LIMIT 1`
	for range 2 {
		cur, err := s.checklist(ctx, tx, query, args...)
		if err == nil {
			return s.update(ctx, tx, cur.ID, p)
		}
		if !notFound(err) {
			return account.Checklist{}, err
		}
		c := account.Checklist{ID: domain.NewID(), Scope: scope, Name: defaultName, Version: 1, IsBase: owner == nil, UserID: owner,
			ItemsRaw: json.RawMessage(`{}`), CreatedAt: s.clock(), Enabled: true}
		if p.Name != nil {
			c.Name = *p.Name
		}
		if p.Version != 0 {
			c.Version = p.Version
		}
		if p.ItemsRaw != nil {
			c.ItemsRaw = p.ItemsRaw
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO checklists (id, scope, name, version, is_base, user_id, items_raw, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			c.ID, c.Scope, c.Name, c.Version, c.IsBase, c.UserID, s.write.Dialect.JSON(c.ItemsRaw), s.t(c.CreatedAt))
		if err != nil {
			return account.Checklist{}, fmt.Errorf("insert checklist: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return account.Checklist{}, fmt.Errorf("insert checklist: %w", err)
		} else if n == 1 {
			return c, nil
		}
	}
	return account.Checklist{}, fmt.Errorf("upsert checklist: the row kept changing")
}

// UpdateCustomChecklist updates one of the user's custom checklists by id. Another
// user's, a base one, or a missing one are all ENOTFOUND "Checklist not found".
func (s *Store) UpdateCustomChecklist(ctx context.Context, userID, id string, p account.ChecklistPatch) (account.Checklist, error) {
	if !domain.ValidID(id) || !domain.ValidID(userID) {
		return account.Checklist{}, errChecklistNotFound()
	}
	var out account.Checklist
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.checklist(ctx, tx, `SELECT `+checklistColumns+` FROM checklists WHERE id = $1 AND user_id = $2 AND NOT is_base`, id, userID)
		if err != nil {
			return err
		}
		if err := p.Check(cur.Scope); err != nil {
			return err
		}
		out, err = s.update(ctx, tx, id, p)
		return err
	})
	if err != nil {
		return account.Checklist{}, fmt.Errorf("update checklist: %w", err)
	}
	return out, nil
}

func (s *Store) update(ctx context.Context, tx *sql.Tx, id string, p account.ChecklistPatch) (account.Checklist, error) {
	var version, items any
	if p.Version != 0 {
		version = p.Version
	}
	if p.ItemsRaw != nil {
		items = s.write.Dialect.JSON(p.ItemsRaw)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE checklists SET name = COALESCE($2, name), version = COALESCE($3, version),
		items_raw = COALESCE($4, items_raw) WHERE id = $1`, id, p.Name, version, items); err != nil {
		return account.Checklist{}, fmt.Errorf("update checklist: %w", err)
	}
	return s.checklist(ctx, tx, `SELECT `+checklistColumns+` FROM checklists WHERE id = $1`, id)
}

// CustomChecklists lists the user's custom checklists by scope (house, room, product),
// name, then version descending: the order the PWA's settings page expects.
func (s *Store) CustomChecklists(ctx context.Context, userID string) ([]account.Checklist, error) {
	if !domain.ValidID(userID) {
		return []account.Checklist{}, nil
	}
	out, err := s.checklists(ctx, s.read, `SELECT `+checklistColumns+` FROM checklists
		WHERE user_id = $1 AND NOT is_base ORDER BY `+scopeOrder+`, name, version DESC, id`, true, userID)
	if err != nil {
		return nil, fmt.Errorf("custom checklists: %w", err)
	}
	return out, nil
}

// Merged builds the three checklists a processing attempt of the user sends to the
// analyzer (contracts section 6.4): per scope the highest-version base merged with the
// user's custom rows in version-descending order, then reduced to what the agents
// accept (checklist.MergeAll).
func (s *Store) Merged(ctx context.Context, userID string) (scan.Checklists, error) {
	owner := userID
	if !domain.ValidID(owner) {
		owner = domain.NewID() // nobody's: base rows only
	}
	rows, err := s.read.QueryContext(ctx, `SELECT scope, is_base, items_raw FROM checklists
		WHERE (is_base AND enabled) OR user_id = $1 ORDER BY scope, is_base DESC, version DESC, created_at DESC`, owner)
	if err != nil {
		return scan.Checklists{}, fmt.Errorf("merge checklists: %w", err)
	}
	defer rows.Close()
	sources := map[checklist.Scope]checklist.Sources{}
	for rows.Next() {
		var scope string
		var isBase bool
		var items json.RawMessage
		if err := rows.Scan(&scope, &isBase, projections.ScanJSON(&items)); err != nil {
			return scan.Checklists{}, fmt.Errorf("merge checklists: %w", err)
		}
		src := sources[checklist.Scope(scope)]
		switch {
		case isBase && src.Base == nil:
			src.Base = items
		case !isBase:
			src.Customs = append(src.Customs, items)
		}
		sources[checklist.Scope(scope)] = src
	}
	if err := rows.Err(); err != nil {
		return scan.Checklists{}, fmt.Errorf("merge checklists: %w", err)
	}
	set, err := checklist.MergeAll(sources)
	if err != nil {
		return scan.Checklists{}, fmt.Errorf("merge checklists: %w", err)
	}
	return scan.Checklists(set), nil
}

func (s *Store) checklist(ctx context.Context, q queryer, query string, args ...any) (account.Checklist, error) {
	var c account.Checklist
	err := q.QueryRowContext(ctx, query, args...).Scan(&c.ID, &c.Scope, &c.Name, &c.Version, &c.IsBase, &c.UserID,
		projections.ScanJSON(&c.ItemsRaw), projections.ScanTime(&c.CreatedAt), &c.Enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Checklist{}, errChecklistNotFound()
	}
	if err != nil {
		return account.Checklist{}, fmt.Errorf("read checklist: %w", err)
	}
	return c, nil
}

// checklists runs a listing; withItems says whether query selects items_raw.
func (s *Store) checklists(ctx context.Context, q queryer, query string, withItems bool, args ...any) ([]account.Checklist, error) {
	out, err := projections.List(ctx, q.QueryContext, query, args, func(rows *sql.Rows, c *account.Checklist) error {
		dst := []any{&c.ID, &c.Scope, &c.Name, &c.Version, &c.IsBase, &c.UserID}
		if withItems {
			dst = append(dst, projections.ScanJSON(&c.ItemsRaw))
		}
		return rows.Scan(append(dst, projections.ScanTime(&c.CreatedAt), &c.Enabled)...)
	})
	if err != nil {
		return nil, fmt.Errorf("list checklists: %w", err)
	}
	return out, nil
}
