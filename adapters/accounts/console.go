package accounts

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scanledger/scanledger/domain/account"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/trail"
	"github.com/scanledger/scanledger/domain/worker"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/scans"
)

// The admin console (the original's /admin/* routes), the model price registry
// (/models-info) and agent runs (/agents-runs). Lists read the read model (the
// projections and this package's tables), never the event store, a page at a time.

// record appends a trail entry; its failure fails the change, which is not made.
func (s *Store) record(ctx context.Context, a account.Actor, action, subject, detail string) error {
	if s.Trail == nil {
		return nil
	}
	if err := s.Trail.Record(ctx, trail.Entry{ActorID: a.ID, ActorRole: a.Role, Action: action, Subject: subject,
		RequestID: a.RequestID, Detail: detail}); err != nil {
		return fmt.Errorf("record %s in the access trail: %w", action, err)
	}
	return nil
}

func errForbidden() error { return domain.Errorf(domain.EFORBIDDEN, "Forbidden resource") }

// requireAdmin checks the role stored for id now: a token's role outlives a demotion.
func (s *Store) requireAdmin(ctx context.Context, q queryer, id string) error {
	if !domain.ValidID(id) {
		return errForbidden()
	}
	role, err := s.role(ctx, q, id)
	if notFound(err) || err == nil && role != auth.RoleAdmin {
		return errForbidden()
	}
	return err
}

// keyset is where a page starts: after the row with this sort time and id.
type keyset struct {
	at time.Time
	id string
}

func errBadCursor() error {
	return domain.Errorf(domain.EINVALID, "cursor must be a cursor from a previous page")
}

func keysetOf(p account.Page) (*keyset, int, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = account.DefaultPageLimit
	}
	if limit > account.MaxPageLimit {
		return nil, 0, domain.Errorf(domain.EINVALID, "limit must not be greater than %d", account.MaxPageLimit)
	}
	if p.Cursor == "" {
		return nil, limit, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return nil, 0, errBadCursor()
	}
	at, id, found := strings.Cut(string(b), "|")
	t, terr := time.Parse(time.RFC3339Nano, at)
	if !found || terr != nil || !domain.ValidID(id) {
		return nil, 0, errBadCursor()
	}
	return &keyset{at: t, id: id}, limit, nil
}

func cursorOf(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// pageQuery runs a newest-first page of query, whose rows are ordered by (timeCol,
// idCol) descending; where is the query's own condition ("" for none), without
// arguments. scan reads one row and returns its sort time and id.
func (s *Store) pageQuery(ctx context.Context, p account.Page, query, where, timeCol, idCol string,
	scan func(rows *sql.Rows) (time.Time, string, error)) (next string, err error) {
	ks, limit, err := keysetOf(p)
	if err != nil {
		return "", err
	}
	var conds []string
	if where != "" {
		conds = append(conds, where)
	}
	var args []any
	if ks != nil {
		conds = append(conds, fmt.Sprintf("(%[1]s < $1 OR (%[1]s = $1 AND %[2]s < $2))", timeCol, idCol))
		args = append(args, s.read.Dialect.Time(ks.at), ks.id)
	}
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY %[1]s DESC, %[2]s DESC LIMIT %[3]d", timeCol, idCol, limit+1)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	n := 0
	var lastAt time.Time
	var lastID string
	for rows.Next() {
		n++
		if n > limit {
			next = cursorOf(lastAt, lastID)
			break
		}
		if lastAt, lastID, err = scan(rows); err != nil {
			return "", err
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return next, nil
}

// listPage is a newest-first page of query (see pageQuery) as a list of T, scan reading
// one row into a T and returning its (time, id) key; what names the list in errors.
func listPage[T any](ctx context.Context, s *Store, p account.Page, what, query, where, timeCol, idCol string,
	scan func(rows *sql.Rows, x *T) (time.Time, string, error)) ([]T, string, error) {
	out := []T{}
	next, err := s.pageQuery(ctx, p, query, where, timeCol, idCol, func(rows *sql.Rows) (time.Time, string, error) {
		var x T
		at, id, err := scan(rows, &x)
		if err != nil {
			return time.Time{}, "", err
		}
		out = append(out, x)
		return at, id, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	return out, next, nil
}

// Dashboard counts users, houses, scans and enabled base checklists.
func (s *Store) Dashboard(ctx context.Context) (account.Dashboard, error) {
	var d account.Dashboard
	err := s.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM houses),
		(SELECT count(*) FROM scans), (SELECT count(*) FROM checklists WHERE is_base AND enabled)`).
		Scan(&d.Users, &d.Houses, &d.Scans, &d.BaseChecklists)
	if err != nil {
		return account.Dashboard{}, fmt.Errorf("dashboard: %w", err)
	}
	return d, nil
}

// ConsoleHouses lists houses, newest first, with their owner and scan count.
func (s *Store) ConsoleHouses(ctx context.Context, p account.Page) ([]account.ConsoleHouse, string, error) {
	return listPage(ctx, s, p, "console houses", `SELECT h.id, h.user_id, h.address, h.house_type, h.status, h.created_at, h.updated_at,
		u.id, u.email, (SELECT count(*) FROM scans WHERE scans.house_id = h.id)
		FROM houses h LEFT JOIN users u ON u.id = h.user_id`, "", "h.created_at", "h.id",
		func(rows *sql.Rows, h *account.ConsoleHouse) (time.Time, string, error) {
			err := rows.Scan(&h.ID, &h.UserID, &h.Address, &h.HouseType, &h.Status, projections.ScanTime(&h.CreatedAt),
				projections.ScanTime(&h.UpdatedAt), &h.Owner.ID, &h.Owner.Email, &h.Scans)
			return h.CreatedAt, h.ID, err
		})
}

// ConsoleScans lists scans, newest first, with their house, owner and counts.
func (s *Store) ConsoleScans(ctx context.Context, p account.Page) ([]account.ConsoleScan, string, error) {
	return listPage(ctx, s, p, "console scans", `SELECT s.id, s.house_id, s.user_id, s.status, s.inputs_snapshot,
		`+s.read.Dialect.StringsJSON("s.detected_house_types")+`, s.started_at, s.finished_at, s.created_at, s.attempt,
		s.failure_code, h.address, u.id, u.email,
		(SELECT count(*) FROM rooms r WHERE r.scan_id = s.id),
		(SELECT count(*) FROM house_room_images i WHERE i.scan_id = s.id),
		(SELECT count(*) FROM agents_runs a WHERE a.scan_id = s.id)
		FROM scans s JOIN houses h ON h.id = s.house_id LEFT JOIN users u ON u.id = h.user_id`, "", "s.created_at", "s.id",
		func(rows *sql.Rows, c *account.ConsoleScan) (time.Time, string, error) {
			err := rows.Scan(&c.ID, &c.HouseID, &c.UserID, &c.Status, projections.ScanJSON(&c.InputsSnapshot),
				projections.ScanStrings(&c.DetectedHouseTypes), projections.ScanNullTime(&c.StartedAt),
				projections.ScanNullTime(&c.FinishedAt), projections.ScanTime(&c.CreatedAt), &c.Attempt, &c.FailureCode,
				&c.Address, &c.Owner.ID, &c.Owner.Email, &c.Rooms, &c.Images, &c.AgentRuns)
			return c.CreatedAt, c.ID, err
		})
}

const runColumns = `a.id, a.scan_id, a.agent_name, a.model_id, a.input_json, a.output_json, a.prompt_hash, a.tokens_in,
	a.tokens_out, a.cost_usd, a.cache_hit, a.started_at, a.finished_at, a.created_at, a.attempt, a.model`

func scanRun(rows *sql.Rows, r *account.AgentRun, extra ...any) error {
	var cost sql.NullString
	if err := rows.Scan(append([]any{&r.ID, &r.ScanID, &r.AgentName, &r.ModelID, projections.ScanJSON(&r.InputJSON),
		projections.ScanJSON(&r.OutputJSON), &r.PromptHash, &r.TokensIn, &r.TokensOut, &cost, &r.CacheHit,
		projections.ScanNullTime(&r.StartedAt), projections.ScanNullTime(&r.FinishedAt), projections.ScanTime(&r.CreatedAt),
		&r.Attempt, &r.Model}, extra...)...); err != nil {
		return err
	}
	if cost.Valid {
		c := scans.NormalizeDecimal(cost.String)
		r.CostUSD = &c
	}
	return nil
}

// ConsoleAgentRuns lists agent runs of every scan, newest first, with the scan's
// address, its owner's email and the linked price's model.
func (s *Store) ConsoleAgentRuns(ctx context.Context, p account.Page) ([]account.AgentRun, string, error) {
	return listPage(ctx, s, p, "console agent runs", `SELECT `+runColumns+`, h.address, u.email, m.model_name, m.provider
		FROM agents_runs a JOIN scans s ON s.id = a.scan_id JOIN houses h ON h.id = s.house_id
		LEFT JOIN users u ON u.id = h.user_id LEFT JOIN models_info m ON m.id = a.model_id`, "", "a.created_at", "a.id",
		func(rows *sql.Rows, r *account.AgentRun) (time.Time, string, error) {
			err := scanRun(rows, r, &r.Address, &r.OwnerEmail, &r.ModelName, &r.Provider)
			return r.CreatedAt, r.ID, err
		})
}

func errScanNotFound() error { return domain.Errorf(domain.ENOTFOUND, "Scan not found") }

// ScanAgentRuns returns the scan's owner and its agent runs (only agentName's when
// given), newest first. ENOTFOUND "Scan not found" when there is no such scan; the
// caller decides who may see them.
func (s *Store) ScanAgentRuns(ctx context.Context, scanID string, agentName *string) (string, []account.AgentRun, error) {
	if !domain.ValidID(scanID) {
		return "", nil, errScanNotFound()
	}
	tx, err := s.read.BeginTx(ctx, s.read.Dialect.ReadTx())
	if err != nil {
		return "", nil, fmt.Errorf("agent runs: %w", err)
	}
	defer tx.Rollback()
	var owner string
	err = tx.QueryRowContext(ctx, `SELECT user_id FROM scans WHERE id = $1`, scanID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, errScanNotFound()
	}
	if err != nil {
		return "", nil, fmt.Errorf("agent runs: %w", err)
	}
	query, args := `SELECT `+runColumns+` FROM agents_runs a WHERE a.scan_id = $1`, []any{scanID}
	if agentName != nil {
		query, args = query+` AND a.agent_name = $2`, append(args, *agentName)
	}
	out, err := projections.List(ctx, tx.QueryContext, query+` ORDER BY a.created_at DESC, a.id DESC`, args,
		func(rows *sql.Rows, r *account.AgentRun) error { return scanRun(rows, r) })
	if err != nil {
		return "", nil, fmt.Errorf("agent runs: %w", err)
	}
	return owner, out, nil
}

const modelColumns = `m.id, m.provider, m.model_name, m.version, m.pricing, m.effective_from, m.effective_to,
	m.created_at, m.updated_at, m.updated_by`

func scanModel(row interface{ Scan(...any) error }, m *account.ModelInfo, extra ...any) error {
	return row.Scan(append([]any{&m.ID, &m.Provider, &m.ModelName, &m.Version, projections.ScanJSON(&m.Pricing),
		projections.ScanTime(&m.EffectiveFrom), projections.ScanNullTime(&m.EffectiveTo), projections.ScanTime(&m.CreatedAt),
		projections.ScanTime(&m.UpdatedAt), &m.UpdatedBy}, extra...)...)
}

// ModelsInfo lists prices, latest effective date first, of one provider and/or model
// name when given (GET /models-info).
func (s *Store) ModelsInfo(ctx context.Context, provider, modelName *string) ([]account.ModelInfo, error) {
	query, args := `SELECT `+modelColumns+` FROM models_info m WHERE 1 = 1`, []any{}
	if provider != nil {
		args = append(args, *provider)
		query += fmt.Sprintf(" AND m.provider = $%d", len(args))
	}
	if modelName != nil {
		args = append(args, *modelName)
		query += fmt.Sprintf(" AND m.model_name = $%d", len(args))
	}
	out, err := projections.List(ctx, s.read.QueryContext, query+` ORDER BY m.effective_from DESC, m.model_name, m.id`, args,
		func(rows *sql.Rows, m *account.ModelInfo) error { return scanModel(rows, m) })
	if err != nil {
		return nil, fmt.Errorf("models info: %w", err)
	}
	return out, nil
}

// ConsoleModels lists prices, latest effective date first, with how many agent runs
// each priced.
func (s *Store) ConsoleModels(ctx context.Context, p account.Page) ([]account.ModelInfo, string, error) {
	return listPage(ctx, s, p, "console models", `SELECT `+modelColumns+`, (SELECT count(*) FROM agents_runs a WHERE a.model_id = m.id)
		FROM models_info m`, "", "m.effective_from", "m.id",
		func(rows *sql.Rows, m *account.ModelInfo) (time.Time, string, error) {
			err := scanModel(rows, m, &m.AgentRuns)
			return m.EffectiveFrom, m.ID, err
		})
}

// PutModelInfo sets a model's price from a date (POST /models-info): it creates the
// row for (model name, effective from) or replaces that row's provider, version,
// pricing and end. Only a user whose stored role is admin may. The change is recorded
// in the access trail before it is made. Agent runs already recorded keep their cost.
func (s *Store) PutModelInfo(ctx context.Context, actor account.Actor, in account.ModelInput) (account.ModelInfo, error) {
	if err := s.requireAdmin(ctx, s.read, actor.ID); err != nil {
		return account.ModelInfo{}, fmt.Errorf("set model price: %w", err)
	}
	actor.Role = auth.RoleAdmin
	in.EffectiveFrom = in.EffectiveFrom.UTC().Truncate(time.Millisecond)
	if in.EffectiveTo != nil {
		t := in.EffectiveTo.UTC().Truncate(time.Millisecond)
		in.EffectiveTo = &t
	}
	if err := in.Check(); err != nil {
		return account.ModelInfo{}, err
	}
	pricing := string(in.Pricing)
	if len(pricing) > 200 {
		pricing = pricing[:200] + "..."
	}
	if err := s.record(ctx, actor, trail.SetModelPrice, "model:"+in.ModelName,
		fmt.Sprintf("price of %s from %s: %s", in.ModelName, in.EffectiveFrom.Format(time.RFC3339Nano), pricing)); err != nil {
		return account.ModelInfo{}, fmt.Errorf("set model price: %w", err)
	}
	now := s.clock()
	var out account.ModelInfo
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.requireAdmin(ctx, tx, actor.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO models_info (id, provider, model_name, version, pricing,
			effective_from, effective_to, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
			ON CONFLICT (model_name, effective_from) DO UPDATE SET provider = excluded.provider, version = excluded.version,
			pricing = excluded.pricing, effective_to = excluded.effective_to, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by`,
			domain.NewID(), in.Provider, in.ModelName, in.Version, s.write.Dialect.JSON(in.Pricing), s.t(in.EffectiveFrom),
			s.write.Dialect.NullTime(in.EffectiveTo), s.t(now), actor.ID); err != nil {
			return fmt.Errorf("upsert model price: %w", err)
		}
		return scanModel(tx.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models_info m
			WHERE m.model_name = $1 AND m.effective_from = $2`, in.ModelName, s.t(in.EffectiveFrom)), &out)
	})
	if err != nil {
		return account.ModelInfo{}, fmt.Errorf("set model price: %w", err)
	}
	return out, nil
}

// PriceAt is the price of model in effect at t: the row with the latest effective date
// not after t that has not ended by t; nil when there is none (worker.Prices).
func (s *Store) PriceAt(ctx context.Context, model string, at time.Time) (*worker.Price, error) {
	var id string
	var pricing json.RawMessage
	err := s.read.QueryRowContext(ctx, `SELECT id, pricing FROM models_info WHERE model_name = $1 AND effective_from <= $2
		AND (effective_to IS NULL OR effective_to > $2) ORDER BY effective_from DESC LIMIT 1`, model, s.t(at)).
		Scan(&id, projections.ScanJSON(&pricing))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("price of %s: %w", model, err)
	}
	in, out, err := worker.ParsePricing(pricing)
	if err != nil {
		return nil, fmt.Errorf("price of %s: stored pricing: %w", model, err)
	}
	return &worker.Price{ID: id, Input: in, Output: out}, nil
}

// ConsoleBaseChecklists lists the base checklists, enabled or not, newest first.
func (s *Store) ConsoleBaseChecklists(ctx context.Context, p account.Page) ([]account.Checklist, string, error) {
	return listPage(ctx, s, p, "console base checklists", `SELECT `+checklistColumns+` FROM checklists`, "is_base", "created_at", "id",
		func(rows *sql.Rows, c *account.Checklist) (time.Time, string, error) {
			err := rows.Scan(&c.ID, &c.Scope, &c.Name, &c.Version, &c.IsBase, &c.UserID, projections.ScanJSON(&c.ItemsRaw),
				projections.ScanTime(&c.CreatedAt), &c.Enabled)
			return c.CreatedAt, c.ID, err
		})
}

// baseByID reads a base checklist; a custom one, a missing one or a malformed id are
// all ENOTFOUND "Checklist not found".
func (s *Store) baseByID(ctx context.Context, q queryer, id string) (account.Checklist, error) {
	if !domain.ValidID(id) {
		return account.Checklist{}, errChecklistNotFound()
	}
	return s.checklist(ctx, q, `SELECT `+checklistColumns+` FROM checklists WHERE id = $1 AND is_base`, id)
}

// EditBaseChecklist changes a base checklist's name and/or items (PATCH
// /admin/checklists/:id). Only base checklists: any other id is ENOTFOUND. Only a user
// whose stored role is admin may. Recorded in the access trail before it is made.
func (s *Store) EditBaseChecklist(ctx context.Context, actor account.Actor, id string, p account.ChecklistPatch) (account.Checklist, error) {
	p.Version = 0 // not editable here, as in the original
	return s.changeBase(ctx, actor, id, func(cur account.Checklist) (string, error) {
		if err := p.Check(cur.Scope); err != nil {
			return "", err
		}
		return "edited the base " + cur.Scope + " checklist" + p.Changed(), nil
	}, func(tx *sql.Tx) (account.Checklist, error) {
		return s.update(ctx, tx, id, p)
	})
}

// ToggleBaseChecklist enables or disables a base checklist (PATCH
// /admin/checklists/:id/toggle). It never changes what is base: a user's private
// checklist, a missing one or a malformed id are ENOTFOUND. Only a user whose stored
// role is admin may. Recorded in the access trail before it is made.
func (s *Store) ToggleBaseChecklist(ctx context.Context, actor account.Actor, id string, enable bool) (account.Checklist, error) {
	verb := "disabled"
	if enable {
		verb = "enabled"
	}
	return s.changeBase(ctx, actor, id, func(cur account.Checklist) (string, error) {
		return verb + " the base " + cur.Scope + " checklist", nil
	}, func(tx *sql.Tx) (account.Checklist, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE checklists SET enabled = $2 WHERE id = $1 AND is_base`, id, enable); err != nil {
			return account.Checklist{}, fmt.Errorf("toggle checklist: %w", err)
		}
		return s.baseByID(ctx, tx, id)
	})
}

// changeBase is the shape of every base checklist change: check the stored role, find
// the row, describe (and validate) the change, record it in the trail, then make it in
// a transaction that checks the role and the row again.
func (s *Store) changeBase(ctx context.Context, actor account.Actor, id string, describe func(account.Checklist) (string, error),
	apply func(*sql.Tx) (account.Checklist, error)) (account.Checklist, error) {
	if err := s.requireAdmin(ctx, s.read, actor.ID); err != nil {
		return account.Checklist{}, fmt.Errorf("change base checklist: %w", err)
	}
	actor.Role = auth.RoleAdmin
	cur, err := s.baseByID(ctx, s.read, id)
	if err != nil {
		return account.Checklist{}, fmt.Errorf("change base checklist: %w", err)
	}
	detail, err := describe(cur)
	if err != nil {
		return account.Checklist{}, err
	}
	if err := s.record(ctx, actor, trail.ChangeBaseList, "checklist:"+id, detail); err != nil {
		return account.Checklist{}, fmt.Errorf("change base checklist: %w", err)
	}
	var out account.Checklist
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.requireAdmin(ctx, tx, actor.ID); err != nil {
			return err
		}
		if _, err := s.baseByID(ctx, tx, id); err != nil {
			return err
		}
		out, err = apply(tx)
		return err
	})
	if err != nil {
		return account.Checklist{}, fmt.Errorf("change base checklist: %w", err)
	}
	return out, nil
}
