package projections_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections/analytics"
)

// analyticsDay is when the fixed scans of analyticsWorld happen: scan 1 at 12:00,
// scan 2 at 13:00, scan 3 at 14:00, scan 4 at 15:00.
var analyticsDay = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// fixedScans are the scans every analytics answer below is computed from by hand.
type fixedScans struct {
	w                    *world
	s1, s2, s3, s4, room string
}

// completeWith appends a Completed with the given house types, summary, result and
// agent runs, d after the previous event.
func (h *history) completeWith(attempt int, d time.Duration, houseTypes []string, summary, result string, runs ...scan.AgentRun) {
	h.w.now = h.w.now.Add(d - time.Second)
	h.append(scan.Completed{Attempt: attempt, HouseTypes: houseTypes, ClientSummary: json.RawMessage(summary),
		ProsCons: json.RawMessage(`{"pros":[],"cons":[]}`), CostInfo: json.RawMessage(`{}`),
		PipelineVersion: "2.0.0", Result: json.RawMessage(result), AgentRuns: runs})
}

func run(agent, model string, in, out int, usd string) scan.AgentRun {
	return scan.AgentRun{ID: domain.NewID(), AgentName: agent, Model: model, TokensIn: in, TokensOut: out, CostUSD: usd}
}

// newFixedScans writes:
//   - scan 1: attempt 1 succeeds after 10 s as an apartment; two agent runs; five
//     checklist answers (house: water_damage true, mold false, cleanliness Good; room:
//     cracked_tiles false; product: fridge exists in Good condition);
//   - scan 2: attempt 1 (apartment) fails after 5 s with agents_http_500 and is
//     retried; attempt 2 succeeds after 30 s as a house; one agent run; water_damage
//     false and mold not assessed;
//   - scan 3: attempt 1 (apartment) fails for good after 20 s with analysis_timeout;
//   - scan 4: attempt 1 still running.
func newFixedScans(t *testing.T) *fixedScans {
	w := newWorld(t)
	f := &fixedScans{w: w}
	user := domain.NewID()
	// started uploads a scan of a new house at the given time and starts attempt 1.
	started := func(at time.Time, address string, imagesPerRoom ...int) (*history, scan.ImagesUploaded) {
		w.now = at
		h := w.create(user, "", address)
		up := h.upload("", imagesPerRoom...)
		h.start(1)
		return h, up
	}

	h, up := started(analyticsDay.Add(12*time.Hour), "1 Main St", 1)
	f.s1, f.room = h.ScanID, up.Rooms[0].RoomID
	h.completeWith(1, 10*time.Second, []string{"apartment"},
		`{"house":{"booleans_true":["water_damage"],"categoricals":{"cleanliness":"Good"}},"rooms":{},"products":{},
		  "checklist_metadata":{"house":{"water_damage":{"type":"boolean"},"mold":{"type":"boolean"},"cleanliness":{"type":"categorical"}},
		  "rooms":{"cracked_tiles":{"type":"boolean"}},"products":{"fridge":{"type":"conditional"}}}}`,
		`{"house_types":["apartment"],"house_checklist":{"booleans":{"water_damage":true,"mold":false},"categoricals":{"cleanliness":"Good"},"conditionals":{}},
		  "rooms":[{"room_id":"`+f.room+`","room_types":["kitchen"],"issues":{"booleans":{"cracked_tiles":false}},
		  "products":{"conditionals":{"fridge":{"exists":true,"condition":"Good","subitems":null}}}}]}`,
		run("house type", "gpt-4o-mini", 80, 10, "0.0008"),
		run("pros/cons analysis", "gpt-4o", 20, 10, "0.000400"))

	h, _ = started(analyticsDay.Add(13*time.Hour), "2 Main St", 1)
	f.s2 = h.ScanID
	w.now = w.now.Add(4 * time.Second)
	h.fail(1, "agents_http_500", "Internal server error", true)
	h.completeWith(2, 30*time.Second, []string{"house"},
		`{"checklist_metadata":{"house":{"water_damage":{"type":"boolean"},"mold":{"type":"boolean"}}}}`,
		`{"house_types":["house"],"house_checklist":{"booleans":{"water_damage":false}},"rooms":[],"not_assessed":["house:mold"]}`,
		run("house type", "gpt-4o-mini", 100, 20, "0.001"))

	h, _ = started(analyticsDay.Add(14*time.Hour), "3 Main St", 2)
	f.s3 = h.ScanID
	w.now = w.now.Add(19 * time.Second)
	h.fail(1, "analysis_timeout", "no answer within 300s", false)

	h, _ = started(analyticsDay.Add(15*time.Hour), "4 Main St", 1)
	f.s4 = h.ScanID
	return f
}

func TestAnalytics_SummariesOfAFixedSetOfScansMatchHandComputedAnswersOnBothEngines(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *testDB) {
		ctx := context.Background()
		f := newFixedScans(t)
		f.w.catchUp(d, newScansProjector(), analytics.NewProjector())
		all := analytics.Filter{}
		apartments := analytics.Filter{HouseType: "apartment"}
		from13 := analytics.Filter{From: analyticsDay.Add(13 * time.Hour)}

		check := func(name string, got any, err error, want any) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
			}
		}

		got, err := analytics.Outcomes(ctx, d.read, all)
		check("outcomes", got, err, []analytics.Outcome{{Status: "failed", Scans: 1, Attempts: 1}, {Status: "succeeded", Scans: 2, Attempts: 3}})
		got, err = analytics.Outcomes(ctx, d.read, apartments)
		check("outcomes of apartments", got, err, []analytics.Outcome{{Status: "failed", Scans: 1, Attempts: 1}, {Status: "succeeded", Scans: 1, Attempts: 1}})
		got, err = analytics.Outcomes(ctx, d.read, from13)
		check("outcomes from 13:00", got, err, []analytics.Outcome{{Status: "failed", Scans: 1, Attempts: 1}, {Status: "succeeded", Scans: 1, Attempts: 2}})

		costs, err := analytics.Costs(ctx, d.read, all, analytics.ByAgent)
		check("costs by agent", costs, err, []analytics.Cost{
			{AgentName: "house type", Model: "gpt-4o-mini", Runs: 2, Scans: 2, TokensIn: 180, TokensOut: 30, CostUSD: "0.0018"},
			{AgentName: "pros/cons analysis", Model: "gpt-4o", Runs: 1, Scans: 1, TokensIn: 20, TokensOut: 10, CostUSD: "0.0004"},
		})
		costs, err = analytics.Costs(ctx, d.read, all, analytics.ByModel)
		check("costs by model", costs, err, []analytics.Cost{
			{Model: "gpt-4o", Runs: 1, Scans: 1, TokensIn: 20, TokensOut: 10, CostUSD: "0.0004"},
			{Model: "gpt-4o-mini", Runs: 2, Scans: 2, TokensIn: 180, TokensOut: 30, CostUSD: "0.0018"},
		})
		costs, err = analytics.Costs(ctx, d.read, apartments, analytics.ByScan)
		check("costs per scan of apartments", costs, err, []analytics.Cost{
			{ScanID: f.s1, Attempt: 1, Runs: 2, Scans: 1, TokensIn: 100, TokensOut: 20, CostUSD: "0.0012"},
		})

		durs, err := analytics.Durations(ctx, d.read, all)
		check("durations", durs, err, []analytics.Duration{
			{Status: "failed", Attempts: 2, Min: 5, P50: 12.5, P90: 18.5, P99: 19.85, Max: 20, Mean: 12.5},
			{Status: "succeeded", Attempts: 2, Min: 10, P50: 20, P90: 28, P99: 29.8, Max: 30, Mean: 20},
		})
		durs, err = analytics.Durations(ctx, d.read, apartments)
		check("durations of apartments", durs, err, []analytics.Duration{
			{Status: "failed", Attempts: 2, Min: 5, P50: 12.5, P90: 18.5, P99: 19.85, Max: 20, Mean: 12.5},
			{Status: "succeeded", Attempts: 1, Min: 10, P50: 10, P90: 10, P99: 10, Max: 10, Mean: 10},
		})

		fails, err := analytics.Failures(ctx, d.read, all)
		check("failures", fails, err, []analytics.Failure{
			{Code: "agents_http_500", Attempts: 1, Retried: 1, Final: 0, Scans: 1, Example: "Internal server error"},
			{Code: "analysis_timeout", Attempts: 1, Retried: 0, Final: 1, Scans: 1, Example: "no answer within 300s"},
		})
		fails, err = analytics.Failures(ctx, d.read, analytics.Filter{To: analyticsDay.Add(14 * time.Hour)})
		check("failures before 14:00", fails, err, []analytics.Failure{
			{Code: "agents_http_500", Attempts: 1, Retried: 1, Final: 0, Scans: 1, Example: "Internal server error"},
		})

		items, err := analytics.ChecklistItems(ctx, d.read, all)
		check("checklist items", items, err, []analytics.ItemRate{
			{Scope: "house", ItemID: "cleanliness", ItemType: "categorical", Evaluations: 1, Answered: 1},
			{Scope: "house", ItemID: "mold", ItemType: "boolean", Evaluations: 2, Pass: 1, NotAssessed: 1, PassRate: 0.5, NotAssessedRate: 0.5},
			{Scope: "house", ItemID: "water_damage", ItemType: "boolean", Evaluations: 2, Pass: 1, Fail: 1, PassRate: 0.5, FailRate: 0.5},
			{Scope: "product", ItemID: "fridge", ItemType: "conditional", Evaluations: 1, Answered: 1},
			{Scope: "room", ItemID: "cracked_tiles", ItemType: "boolean", Evaluations: 1, Pass: 1, PassRate: 1},
		})
		items, err = analytics.ChecklistItems(ctx, d.read, analytics.Filter{HouseType: "house"})
		check("checklist items of houses", items, err, []analytics.ItemRate{
			{Scope: "house", ItemID: "mold", ItemType: "boolean", Evaluations: 1, NotAssessed: 1, NotAssessedRate: 1},
			{Scope: "house", ItemID: "water_damage", ItemType: "boolean", Evaluations: 1, Pass: 1, PassRate: 1},
		})
	})
}

func TestAnalytics_ReUploadDropsItemOutcomesAndDeletionDropsEverything(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *testDB) {
		f := newFixedScans(t)
		f.w.catchUp(d, newScansProjector(), analytics.NewProjector())
		if n := count(t, d, `SELECT count(*) FROM scan_checklist_items WHERE scan_id = $1`, f.s1); n != 5 {
			t.Fatalf("scan 1 has %d item rows, want 5", n)
		}
		h := &history{w: f.w, ScanID: f.s1, version: 3}
		h.upload("", 2)
		h2 := &history{w: f.w, ScanID: f.s2, version: 5}
		h2.delete()
		f.w.catchUp(d, newScansProjector(), analytics.NewProjector())
		if n := count(t, d, `SELECT count(*) FROM scan_checklist_items WHERE scan_id = $1`, f.s1); n != 0 {
			t.Errorf("after a re-upload scan 1 still has %d item rows", n)
		}
		if n := count(t, d, `SELECT count(*) FROM scan_attempts WHERE scan_id = $1`, f.s1); n != 1 {
			t.Errorf("after a re-upload scan 1 has %d attempts, want its 1 (it happened)", n)
		}
		if n := count(t, d, `SELECT count(*) FROM scan_attempts WHERE scan_id = $1`, f.s2) +
			count(t, d, `SELECT count(*) FROM scan_checklist_items WHERE scan_id = $1`, f.s2); n != 0 {
			t.Errorf("deleted scan 2 still has %d analytics rows", n)
		}
	})
}

// portableP90 is the percentile query docs/analytics.md gives for engines without
// percentile_cont.
const portableP90 = `WITH d AS (
  SELECT status, duration_ms AS v,
         row_number() OVER (PARTITION BY status ORDER BY duration_ms) - 1 AS i,
         count(*) OVER (PARTITION BY status) AS n
  FROM scan_attempts WHERE duration_ms IS NOT NULL),
p AS (SELECT DISTINCT status, (n - 1) * 9 / 10 AS lo, ((n - 1) * 9 % 10) / 10.0 AS frac FROM d)
SELECT p.status, lo.v + p.frac * (coalesce(hi.v, lo.v) - lo.v) AS p90_ms
FROM p
JOIN d lo ON lo.status = p.status AND lo.i = p.lo
LEFT JOIN d hi ON hi.status = p.status AND hi.i = p.lo + 1
ORDER BY 1`

func TestAnalytics_TheDocumentedPortablePercentileQueryAgreesWithTheAPI(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *testDB) {
		f := newFixedScans(t)
		f.w.catchUp(d, newScansProjector(), analytics.NewProjector())
		rows, err := d.read.QueryContext(context.Background(), portableP90)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]float64{}
		for rows.Next() {
			var status string
			var p90 float64
			if err := rows.Scan(&status, &p90); err != nil {
				t.Fatal(err)
			}
			got[status] = p90
		}
		if want := map[string]float64{"failed": 18500, "succeeded": 28000}; !reflect.DeepEqual(got, want) {
			t.Errorf("p90 in ms: got %v, want %v", got, want)
		}
	})
}
