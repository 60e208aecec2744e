package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scanledger/scanledger/projections"
)

// Filter narrows a summary to attempts (or scans) that finished in [From, To) and
// whose house type is HouseType. Zero values do not filter.
type Filter struct {
	From, To  time.Time
	HouseType string
}

// where returns the conditions of f on a finished-at column and a house-type column,
// with their arguments numbered from $1.
func (f Filter) where(d projections.Dialect, at, houseType string) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.From.IsZero() {
		add(at+" >= ?", d.Time(f.From))
	}
	if !f.To.IsZero() {
		add(at+" < ?", d.Time(f.To))
	}
	if f.HouseType != "" {
		add(houseType+" = ?", f.HouseType)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}

// Outcome is how many scans ended in a status, and how many attempts they took.
type Outcome struct {
	Status   string `json:"status"`
	Scans    int    `json:"scans"`
	Attempts int    `json:"attempts"`
}

// Outcomes counts finished scans (succeeded, failed for good) by status. The house type
// is that of the scan's last attempt.
func Outcomes(ctx context.Context, db projections.DB, f Filter) ([]Outcome, error) {
	cond, args := f.where(db.Dialect, "s.finished_at", "a.house_type")
	return list(ctx, db, "outcomes", `SELECT s.status, count(*), coalesce(sum(s.attempt), 0)
		FROM scans s LEFT JOIN scan_attempts a ON a.scan_id = s.id AND a.attempt = s.attempt
		WHERE s.status IN ('succeeded', 'failed')`+cond+`
		GROUP BY s.status ORDER BY s.status`, args, func(rows *sql.Rows, o *Outcome) error {
		return rows.Scan(&o.Status, &o.Scans, &o.Attempts)
	})
}

// Cost groupings.
const (
	ByAgent = "agent" // agent and model
	ByModel = "model"
	ByScan  = "scan" // scan and attempt
)

// Cost is the token use and estimated cost of a group of agent runs. Key fields not in
// the grouping are empty.
type Cost struct {
	ScanID    string `json:"scanId,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	AgentName string `json:"agentName,omitempty"`
	Model     string `json:"model"`
	Runs      int    `json:"runs"`
	Scans     int    `json:"scans"`
	TokensIn  int64  `json:"tokensIn"`
	TokensOut int64  `json:"tokensOut"`
	// CostUSD is the exact decimal sum of agents_runs.cost_usd, as text.
	CostUSD string `json:"costUsd"`
}

// Costs sums agents_runs.cost_usd and tokens by by (ByAgent, ByModel or ByScan) for
// attempts that finished within f. Sums are exact decimals computed here, so both
// engines give the same digits (SQLite would sum the text as floating point).
func Costs(ctx context.Context, db projections.DB, f Filter, by string) ([]Cost, error) {
	if by != ByAgent && by != ByModel && by != ByScan {
		return nil, fmt.Errorf("costs: unknown grouping %q", by)
	}
	cond, args := f.where(db.Dialect, "a.finished_at", "a.house_type")
	type group struct {
		Cost
		sum   big.Rat
		scans map[string]bool
	}
	groups := map[[3]string]*group{}
	err := projections.EachRow(ctx, db.QueryContext, `SELECT r.scan_id, r.attempt, r.agent_name, coalesce(r.model, ''),
			coalesce(r.tokens_in, 0), coalesce(r.tokens_out, 0), coalesce(CAST(r.cost_usd AS TEXT), '0')
		FROM agents_runs r JOIN scan_attempts a ON a.scan_id = r.scan_id AND a.attempt = r.attempt
		WHERE true`+cond, args, func(rows *sql.Rows) error {
		var c Cost
		var cost string
		if err := rows.Scan(&c.ScanID, &c.Attempt, &c.AgentName, &c.Model, &c.TokensIn, &c.TokensOut, &cost); err != nil {
			return err
		}
		var usd big.Rat
		if _, ok := usd.SetString(cost); !ok {
			return fmt.Errorf("cost_usd %q of scan %s is not a decimal", cost, c.ScanID)
		}
		scanID := c.ScanID
		var k [3]string
		switch by {
		case ByAgent:
			c.ScanID, c.Attempt = "", 0
			k = [3]string{c.AgentName, c.Model}
		case ByModel:
			c.ScanID, c.Attempt, c.AgentName = "", 0, ""
			k = [3]string{c.Model}
		case ByScan:
			c.AgentName, c.Model = "", ""
			k = [3]string{c.ScanID, strconv.Itoa(c.Attempt)}
		}
		g := groups[k]
		if g == nil {
			key := c
			key.TokensIn, key.TokensOut = 0, 0 // summed below
			g = &group{Cost: key, scans: map[string]bool{}}
			groups[k] = g
		}
		g.Runs++
		g.TokensIn += c.TokensIn
		g.TokensOut += c.TokensOut
		g.sum.Add(&g.sum, &usd)
		g.scans[scanID] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("costs: %w", err)
	}
	out := make([]Cost, 0, len(groups))
	for _, g := range groups {
		g.Scans = len(g.scans)
		g.CostUSD = decimalText(&g.sum)
		out = append(out, g.Cost)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ScanID != b.ScanID {
			return a.ScanID < b.ScanID
		}
		if a.Attempt != b.Attempt {
			return a.Attempt < b.Attempt
		}
		if a.AgentName != b.AgentName {
			return a.AgentName < b.AgentName
		}
		return a.Model < b.Model
	})
	return out, nil
}

// decimalText prints an exact sum of decimals with at most 30 fractional digits (the
// column's scale) and no trailing zeros.
func decimalText(r *big.Rat) string {
	s := r.FloatString(30)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// Duration is the processing time of finished attempts with one status, in seconds.
// Percentiles interpolate linearly between the nearest ranks (PostgreSQL's
// percentile_cont), computed here because SQLite has no such function.
type Duration struct {
	Status   string  `json:"status"`
	Attempts int     `json:"attempts"`
	Min      float64 `json:"minSeconds"`
	P50      float64 `json:"p50Seconds"`
	P90      float64 `json:"p90Seconds"`
	P99      float64 `json:"p99Seconds"`
	Max      float64 `json:"maxSeconds"`
	Mean     float64 `json:"meanSeconds"`
}

// Durations summarises the processing time per attempt (started to succeeded or
// failed, retried attempts included) by status.
func Durations(ctx context.Context, db projections.DB, f Filter) ([]Duration, error) {
	cond, args := f.where(db.Dialect, "finished_at", "house_type")
	byStatus := map[string][]int64{}
	var order []string
	err := projections.EachRow(ctx, db.QueryContext, `SELECT status, duration_ms FROM scan_attempts
		WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL`+cond+`
		ORDER BY status, duration_ms`, args, func(rows *sql.Rows) error {
		var status string
		var ms int64
		if err := rows.Scan(&status, &ms); err != nil {
			return err
		}
		if _, ok := byStatus[status]; !ok {
			order = append(order, status)
		}
		byStatus[status] = append(byStatus[status], ms)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("durations: %w", err)
	}
	out := []Duration{}
	for _, status := range order {
		ms := byStatus[status] // ascending
		var total int64
		for _, v := range ms {
			total += v
		}
		out = append(out, Duration{
			Status: status, Attempts: len(ms),
			Min: seconds(float64(ms[0])), Max: seconds(float64(ms[len(ms)-1])),
			P50: seconds(Percentile(ms, 0.5)), P90: seconds(Percentile(ms, 0.9)), P99: seconds(Percentile(ms, 0.99)),
			Mean: seconds(float64(total) / float64(len(ms))),
		})
	}
	return out, nil
}

// Percentile is percentile_cont(p) of ascending values: the value at rank p*(n-1),
// interpolated between its neighbours.
func Percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := p * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return float64(sorted[lo]) + frac*float64(sorted[hi]-sorted[lo])
}

// seconds turns milliseconds into seconds rounded to the millisecond, so that
// interpolation noise never shows.
func seconds(ms float64) float64 { return math.Round(ms) / 1000 }

// Failure counts failed attempts with one code: retried ones (the next attempt started
// at once) and final ones.
type Failure struct {
	Code     string `json:"code"`
	Attempts int    `json:"attempts"`
	Retried  int    `json:"retried"`
	Final    int    `json:"final"`
	Scans    int    `json:"scans"`
	Example  string `json:"example"`
}

// Failures counts failed attempts by failure code, retried attempts included.
func Failures(ctx context.Context, db projections.DB, f Filter) ([]Failure, error) {
	cond, args := f.where(db.Dialect, "finished_at", "house_type")
	return list(ctx, db, "failures", `SELECT coalesce(failure_code, ''), count(*),
			sum(CASE WHEN will_retry THEN 1 ELSE 0 END), count(DISTINCT scan_id), max(coalesce(failure_reason, ''))
		FROM scan_attempts WHERE status = 'failed'`+cond+`
		GROUP BY 1 ORDER BY 2 DESC, 1`, args, func(rows *sql.Rows, x *Failure) error {
		if err := rows.Scan(&x.Code, &x.Attempts, &x.Retried, &x.Scans, &x.Example); err != nil {
			return err
		}
		x.Final = x.Attempts - x.Retried
		return nil
	})
}

// ItemRate is how one checklist item came out over the scans (and rooms) it was asked
// about: rates are shares of Evaluations, rounded to 4 decimals.
type ItemRate struct {
	Scope           string  `json:"scope"`
	ItemID          string  `json:"itemId"`
	ItemType        string  `json:"itemType"`
	Evaluations     int     `json:"evaluations"`
	Pass            int     `json:"pass"`
	Fail            int     `json:"fail"`
	Answered        int     `json:"answered"`
	NotAssessed     int     `json:"notAssessed"`
	PassRate        float64 `json:"passRate"`
	FailRate        float64 `json:"failRate"`
	NotAssessedRate float64 `json:"notAssessedRate"`
}

// ChecklistItems gives pass, fail and not-assessed rates per checklist item, from the
// latest successful analysis of each scan assessed within f.
func ChecklistItems(ctx context.Context, db projections.DB, f Filter) ([]ItemRate, error) {
	cond, args := f.where(db.Dialect, "i.assessed_at", "a.house_type")
	return list(ctx, db, "checklist items", `SELECT i.scope, i.item_id, max(i.item_type), count(*),
			sum(CASE WHEN i.outcome = 'pass' THEN 1 ELSE 0 END),
			sum(CASE WHEN i.outcome = 'fail' THEN 1 ELSE 0 END),
			sum(CASE WHEN i.outcome = 'answered' THEN 1 ELSE 0 END),
			sum(CASE WHEN i.outcome = 'not_assessed' THEN 1 ELSE 0 END)
		FROM scan_checklist_items i JOIN scan_attempts a ON a.scan_id = i.scan_id AND a.attempt = i.attempt
		WHERE true`+cond+`
		GROUP BY i.scope, i.item_id ORDER BY i.scope, i.item_id`, args, func(rows *sql.Rows, x *ItemRate) error {
		if err := rows.Scan(&x.Scope, &x.ItemID, &x.ItemType, &x.Evaluations, &x.Pass, &x.Fail, &x.Answered, &x.NotAssessed); err != nil {
			return err
		}
		rate := func(n int) float64 { return math.Round(float64(n)/float64(x.Evaluations)*1e4) / 1e4 }
		x.PassRate, x.FailRate, x.NotAssessedRate = rate(x.Pass), rate(x.Fail), rate(x.NotAssessed)
		return nil
	})
}

// list runs q with args and returns one T per row, filled in by scan; what names the
// query in errors.
func list[T any](ctx context.Context, db projections.DB, what, q string, args []any, scan func(*sql.Rows, *T) error) ([]T, error) {
	out, err := projections.List(ctx, db.QueryContext, q, args, scan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
