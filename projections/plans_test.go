package projections_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/projections"
)

// planProbe runs, for every event, a lookup of a list of keys (Dialect.AnyOf) and a
// statement with a single key, then reads how PostgreSQL planned them on the
// transaction's connection.
type planProbe struct {
	handled int
	plans   map[string][2]int64 // statement text -> generic plans, custom plans
}

const (
	probeLookup = "SELECT count(*) FROM projection_streams WHERE projection = $1 AND "
	probeSingle = "SELECT count(*) FROM projection_checkpoints WHERE name = $1"
)

func (p *planProbe) Name() string { return "plan-probe" }

func (p *planProbe) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	d := tx.Dialect()
	var n int
	if err := tx.QueryRow(ctx, probeLookup+d.AnyOf("stream_id", "$2"), p.Name(), d.Strings([]string{e.StreamID, "other"})).Scan(&n); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, probeSingle, p.Name()).Scan(&n); err != nil {
		return err
	}
	p.handled++
	rows, err := tx.Query(ctx, "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
	if err != nil {
		return err
	}
	defer rows.Close()
	p.plans = map[string][2]int64{}
	for rows.Next() {
		var text string
		var generic, custom int64
		if err := rows.Scan(&text, &generic, &custom); err != nil {
			return err
		}
		p.plans[text] = [2]int64{generic, custom}
	}
	return rows.Err()
}

// A lookup of a list of keys is planned with the list every time: a plan made once for
// any list cannot see how long it is and, made while the tables were still small, scans
// them whole once they are not. Every other statement of a projection keeps the plan
// PostgreSQL caches for it, rather than being planned again on each run (per row, for
// the queries behind a foreign key).
func TestRunner_OnPostgresPlansOnlyListLookupsOnEveryRun(t *testing.T) {
	t.Parallel()
	d := newPostgres(t)
	w := newWorld(t)
	for range 2 {
		lifecycle(w, domain.NewID())
	}
	p := &planProbe{}
	catchUp(t, d, w.store, func(r *projections.Runner) { r.BatchSize, r.CatchUpBatchSize = 100, 100 }, p)
	if p.handled != w.store.len() || p.handled < 10 {
		t.Fatalf("handled %d events of %d, want them all and at least 10", p.handled, w.store.len())
	}
	single := false
	for text, plans := range p.plans {
		switch {
		case text == probeSingle:
			single = true
			if plans[0] == 0 {
				t.Errorf("%q: %d custom plans and no generic one after %d runs, want its cached plan reused", text, plans[1], p.handled)
			}
		case strings.HasPrefix(text, probeLookup): // if prepared at all
			if plans[0] != 0 {
				t.Errorf("%q: %d runs with a generic plan, want every run planned with its list", text, plans[0])
			}
		}
	}
	if !single {
		t.Errorf("%q was not prepared on the connection (prepared: %v)", probeSingle, p.plans)
	}
}
