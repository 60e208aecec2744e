package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
)

func readUser(t *testing.T, d *testDB, user string, after int64, limit int) []feed.Entry {
	t.Helper()
	es, err := feed.ReadUser(context.Background(), d.read, user, after, limit)
	if err != nil {
		t.Fatalf("read feed: %v", err)
	}
	return es
}

func TestFeed_PayloadsMatchTheOriginalSocketEventsExactly(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		user := domain.NewID()
		h := w.create(user, "", "1 Main St")
		up := h.upload("", 2, 1)
		h.start(1)
		h.progress(1, 10, "Preparing request")
		h.append(scan.ProgressReported{Attempt: 1, Progress: 20, Stage: "Analyzing images", ETASeconds: ptr(42)})
		h.fail(1, "agents_unreachable", "connection refused", true)
		c := h.complete(2, up)
		f := w.running(user)
		f.fail(1, "agents_http_500", "Python agents service unavailable", false)
		f.delete()
		w.catchUp(d, feed.NewProjector())

		s, x := h.ScanID, f.ScanID
		want := []struct{ scan, event, payload string }{
			{s, "scan:uploaded", `{"scanId":"` + s + `","roomsCount":2,"imagesCount":3,"message":"Images uploaded successfully"}`},
			{s, "scan:processing", `{"scanId":"` + s + `","message":"Scan processing started"}`},
			{s, "scan:progress", `{"scanId":"` + s + `","progress":10,"stage":"Preparing request"}`},
			{s, "scan:progress", `{"scanId":"` + s + `","progress":20,"stage":"Analyzing images","etaSeconds":42}`},
			// The failure that will be retried is not shown; its next attempt is.
			{s, "scan:processing", `{"scanId":"` + s + `","message":"Scan processing started"}`},
			{s, "scan:completed", `{"scanId":"` + s + `","message":"Scan completed successfully","result":{"result":` +
				string(c.Result) + `,"client_summary":` + string(c.ClientSummary) + `,"cost_info":` + string(c.CostInfo) +
				`,"agent_executions":[],"metadata":{"pipeline_version":"2.0.0"}}}`},
			{x, "scan:uploaded", `{"scanId":"` + x + `","roomsCount":1,"imagesCount":1,"message":"Images uploaded successfully"}`},
			{x, "scan:processing", `{"scanId":"` + x + `","message":"Scan processing started"}`},
			{x, "scan:failed", `{"scanId":"` + x + `","error":"Python agents service unavailable"}`},
			{x, "scan:deleted", `{"scanId":"` + x + `"}`},
		}
		got := readUser(t, d, user, 0, 100)
		if len(got) != len(want) {
			t.Fatalf("feed has %d messages, want %d: %+v", len(got), len(want), got)
		}
		for i, e := range got {
			if e.ScanID != want[i].scan || e.Event != want[i].event || string(e.Payload) != want[i].payload {
				t.Errorf("message %d = %s %s %s\nwant %s %s %s", i, e.ScanID, e.Event, e.Payload,
					want[i].scan, want[i].event, want[i].payload)
			}
			if e.Seq != int64(i+1) || e.UserID != user {
				t.Errorf("message %d has user %s seq %d, want %s seq %d", i, e.UserID, e.Seq, user, i+1)
			}
		}
	})
}

func TestFeed_SeqCountsFromOnePerUserAndUsersAreIsolated(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		u1, u2 := domain.NewID(), domain.NewID()
		a := w.create(u1, "", "")
		b := w.create(u2, "", "")
		a.upload("", 1)
		b.upload("", 1)
		a.start(1)
		b.start(1)
		a.progress(1, 10, "x")
		w.catchUp(d, feed.NewProjector())
		// The next batch continues each user's numbering.
		b.progress(1, 10, "y")
		a.progress(1, 20, "z")
		w.catchUp(d, feed.NewProjector())

		for _, c := range []struct {
			user string
			scan string
			n    int
		}{{u1, a.ScanID, 4}, {u2, b.ScanID, 3}} {
			got := readUser(t, d, c.user, 0, 100)
			if len(got) != c.n {
				t.Fatalf("user has %d messages, want %d", len(got), c.n)
			}
			for i, e := range got {
				if e.Seq != int64(i+1) || e.UserID != c.user || e.ScanID != c.scan {
					t.Errorf("message %d = user %s scan %s seq %d; want user %s scan %s seq %d",
						i, e.UserID, e.ScanID, e.Seq, c.user, c.scan, i+1)
				}
			}
			if latest, err := feed.LatestSeq(ctx, d.read, c.user); err != nil || latest != int64(c.n) {
				t.Errorf("LatestSeq = %d, %v; want %d", latest, err, c.n)
			}
		}
		page := readUser(t, d, u1, 2, 1)
		if len(page) != 1 || page[0].Seq != 3 {
			t.Errorf("ReadUser(after 2, limit 1) = %+v, want seq 3", page)
		}
		if got := readUser(t, d, domain.NewID(), 0, 100); len(got) != 0 {
			t.Errorf("a stranger sees %d messages", len(got))
		}
	})
}

func TestFeed_TailReturnsEveryUsersMessagesInCommitOrder(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		a := w.create(domain.NewID(), "", "")
		b := w.create(domain.NewID(), "", "")
		a.upload("", 1)
		b.upload("", 1)
		a.start(1)
		w.catchUp(d, feed.NewProjector())
		b.start(1)
		w.catchUp(d, feed.NewProjector())

		all, err := feed.Tail(ctx, d.read, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		wantScans := []string{a.ScanID, b.ScanID, a.ScanID, b.ScanID}
		wantEvents := []string{feed.EventUploaded, feed.EventUploaded, feed.EventProcessing, feed.EventProcessing}
		if len(all) != len(wantScans) {
			t.Fatalf("Tail gave %d messages, want %d", len(all), len(wantScans))
		}
		for i, e := range all {
			if e.ScanID != wantScans[i] || e.Event != wantEvents[i] || (i > 0 && e.ID <= all[i-1].ID) {
				t.Errorf("message %d = %+v; want %s %s after id %d", i, e, wantScans[i], wantEvents[i], all[max(i-1, 0)].ID)
			}
		}
		rest, err := feed.Tail(ctx, d.read, all[1].ID, 1)
		if err != nil || len(rest) != 1 || rest[0].ID != all[2].ID {
			t.Errorf("Tail(after %d, 1) = %+v, %v; want message %d", all[1].ID, rest, err, all[2].ID)
		}
		if last, err := feed.LastID(ctx, d.read); err != nil || last != all[3].ID {
			t.Errorf("LastID = %d, %v; want %d", last, err, all[3].ID)
		}
	})
}

func TestFeed_PruneDropsOldMessagesButSeqsNeverRestart(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		user := domain.NewID()
		h := w.running(user)
		cut := w.now.Add(time.Millisecond) // after the first two messages
		h.progress(1, 10, "a")
		w.catchUp(d, feed.NewProjector())
		before, _ := feed.Tail(ctx, d.read, 0, 100)

		n, err := feed.Prune(ctx, d.db, cut)
		if err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v; want 2 deleted", n, err)
		}
		if oldest, err := feed.OldestSeq(ctx, d.read, user); err != nil || oldest != 3 {
			t.Errorf("OldestSeq = %d, %v; want 3", oldest, err)
		}
		if n, _ := feed.Prune(ctx, d.db, w.now.Add(time.Hour)); n != 1 {
			t.Errorf("second Prune deleted %d, want 1", n)
		}
		if oldest, _ := feed.OldestSeq(ctx, d.read, user); oldest != 0 {
			t.Errorf("OldestSeq of an emptied feed = %d, want 0", oldest)
		}

		h.progress(1, 20, "b")
		w.catchUp(d, feed.NewProjector())
		got := readUser(t, d, user, 0, 100)
		if len(got) != 1 || got[0].Seq != 4 || got[0].ID <= before[len(before)-1].ID {
			t.Errorf("after pruning everything, next message = %+v; want seq 4 and a new id", got)
		}
		if latest, _ := feed.LatestSeq(ctx, d.read, user); latest != 4 {
			t.Errorf("LatestSeq = %d, want 4", latest)
		}
	})
}

func TestFeed_EventsOfAScanWithoutAnOwnerAreParked(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		h := w.create(domain.NewID(), "", "")
		h.upload("", 1)
		// A stream whose Created never made it (written by a buggy tool).
		orphan := &history{w: w, ScanID: domain.NewID(), UserID: domain.NewID(), version: -1}
		orphan.raw(scan.TypeProgressReported, []byte(`{"attempt":1,"progress":5,"stage":"x"}`))
		h.start(1)
		rs := catchUp(t, d, w.store, func(r *projections.Runner) { r.Backoff = time.Millisecond }, feed.NewProjector())

		if s := rs[0].Stats(); s.Parked != 1 || s.Applied != 3 {
			t.Errorf("stats = %+v, want 1 parked and 3 applied", s)
		}
		parked, err := projections.ListParked(ctx, d.read, feed.Name)
		if err != nil || len(parked) != 1 || parked[0].StreamID != scan.StreamName(orphan.ScanID) {
			t.Errorf("parked = %+v, %v; want the orphan's event", parked, err)
		}
		if got := readUser(t, d, h.UserID, 0, 10); len(got) != 2 {
			t.Errorf("owner has %d messages, want 2", len(got))
		}
	})
}
