package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/jobs"
)

// generate writes histories of many scans into w's store, interleaved the way a busy
// system interleaves them: up to active scans in flight, the next event of a random one
// appended each step, until the store holds at least events events. Histories vary:
// shared houses, re-uploads, retried and final failures, re-processing after failure,
// results naming rooms of other scans, deletions.
func generate(w *world, rng *rand.Rand, active, events int) {
	users := make([]string, 200)
	for i := range users {
		users[i] = domain.NewID()
	}
	type houseRef struct{ user, house string }
	var houses []houseRef
	var foreignRooms []string
	var inflight []func() bool // each call appends the next event(s); false when done

	script := func() func() bool {
		var h *history
		var steps []func()
		user := users[rng.IntN(len(users))]
		var last scan.ImagesUploaded
		steps = append(steps, func() {
			if len(houses) > 0 && rng.IntN(10) == 0 {
				ref := houses[rng.IntN(len(houses))]
				h = w.create(ref.user, ref.house, "")
			} else {
				h = w.create(user, "", fmt.Sprintf("%d Main St", rng.IntN(1000)))
				houses = append(houses, houseRef{user, h.HouseID})
			}
		})
		upload := func() {
			rooms := make([]int, 1+rng.IntN(3))
			for i := range rooms {
				rooms[i] = 1 + rng.IntN(3)
			}
			addr := ""
			if rng.IntN(4) == 0 {
				addr = "new address"
			}
			last = h.upload(addr, rooms...)
			for _, r := range last.Rooms {
				if rng.IntN(20) == 0 {
					foreignRooms = append(foreignRooms, r.RoomID)
				}
			}
		}
		steps = append(steps, upload)
		if rng.IntN(10) == 0 {
			steps = append(steps, upload)
		}
		attempt := 1
		process := func() {
			steps = append(steps,
				func() { h.start(attempt) },
				func() { h.progress(attempt, 10, "Preparing request") },
				func() { h.progress(attempt, 20, "Analyzing images") })
		}
		complete := func() {
			steps = append(steps, func() { h.progress(attempt, 90, "Saving results") }, func() {
				var extra []string
				if len(foreignRooms) > 0 && rng.IntN(30) == 0 {
					extra = append(extra, foreignRooms[rng.IntN(len(foreignRooms))])
				}
				h.complete(attempt, last, extra...)
			})
		}
		process()
		switch n := rng.IntN(10); {
		case n == 0: // fails, retried automatically, succeeds
			steps = append(steps, func() { h.fail(attempt, "agents_unreachable", "timeout", true); attempt++ })
			steps = append(steps, func() { h.progress(attempt, 10, "Preparing request") })
			complete()
		case n == 1: // fails for good; half the time the user uploads again and retries
			steps = append(steps, func() { h.fail(attempt, "agents_http_422", "bad request", false) })
			if rng.IntN(2) == 0 {
				steps = append(steps, upload, func() { attempt++ })
				process()
				complete()
			}
		default:
			complete()
		}
		if rng.IntN(20) == 0 {
			steps = append(steps, func() { h.delete() })
		}
		i := 0
		return func() bool {
			steps[i]()
			i++
			return i < len(steps)
		}
	}

	for w.store.len() < events {
		for len(inflight) < active {
			inflight = append(inflight, script())
		}
		k := rng.IntN(len(inflight))
		if !inflight[k]() {
			inflight = append(inflight[:k], inflight[k+1:]...)
		}
	}
}

// dump reads every read-model table in a fixed order, as text.
func dump(t testing.TB, db projections.DB) map[string][][]string {
	t.Helper()
	return dumpTables(t, db, map[string]string{
		"houses": "id", "scans": "id", "rooms": "id", "house_room_images": "id", "house_scan_summary": "id",
		"agents_runs": "id", "user_feed": "id", "user_feed_scans": "scan_id", "user_feed_cursors": "user_id",
		"scan_jobs": "scan_id, attempt", "projection_streams": "projection, stream_id", "parked_events": "event_id",
	})
}

// dumpTables reads tables (table -> ORDER BY list) as text.
func dumpTables(t testing.TB, db projections.DB, tables map[string]string) map[string][][]string {
	t.Helper()
	out := map[string][][]string{}
	for table, order := range tables {
		cols, rows := selectAll(t, db, "SELECT * FROM "+table+" ORDER BY "+order)
		for _, vals := range rows {
			row := make([]string, len(cols))
			for i, v := range vals {
				switch v := v.(type) {
				case []byte:
					row[i] = string(v)
				case time.Time:
					row[i] = v.UTC().Format(time.RFC3339Nano)
				default:
					row[i] = fmt.Sprint(v)
				}
			}
			out[table] = append(out[table], row)
		}
	}
	return out
}

// selectAll runs query and returns its column names and every row's values as the
// driver gave them.
func selectAll(t testing.TB, db projections.DB, query string) ([]string, [][]any) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return cols, out
}

func TestProjectors_BatchingGivesTheSameRowsAsOneEventAtATime(t *testing.T) {
	forEachWorld(t, func(t *testing.T, _ *testDB, w *world) {
		generate(w, rand.New(rand.NewPCG(1, 2)), 12, 1000)
		var dumps []map[string][][]string
		for _, size := range []int{1, 500} {
			d := newSQLite(t)
			if strings.HasSuffix(t.Name(), "postgres") {
				d = newPostgres(t)
			}
			// Every transaction that size, caught up or not.
			rs := catchUp(t, d, w.store, func(r *projections.Runner) { r.BatchSize, r.CatchUpBatchSize = size, size },
				newScansProjector(), feed.NewProjector(), jobs.NewProjector())
			for _, r := range rs {
				if s := r.Stats(); s.Parked != 0 || s.Applied != uint64(w.store.len()) {
					t.Fatalf("batch size %d, %s: %+v", size, r.Name(), s)
				}
			}
			dumps = append(dumps, dump(t, d.read))
		}
		for table, rows := range dumps[0] {
			if !reflect.DeepEqual(rows, dumps[1][table]) {
				t.Errorf("%s differs between batch sizes 1 and 500:\n%d rows vs %d rows", table, len(rows), len(dumps[1][table]))
				for i := range min(len(rows), len(dumps[1][table])) {
					if !reflect.DeepEqual(rows[i], dumps[1][table][i]) {
						t.Errorf("first difference:\n  %v\n  %v", rows[i], dumps[1][table][i])
						break
					}
				}
			}
		}
		if len(dumps[0]["scans"]) < 80 || len(dumps[0]["house_scan_summary"]) == 0 || len(dumps[0]["user_feed"]) == 0 {
			t.Errorf("the generated history is too thin to prove anything: %d scans", len(dumps[0]["scans"]))
		}
	})
}
