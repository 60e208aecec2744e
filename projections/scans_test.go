package projections_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections/scans"
)

func getScan(t *testing.T, d *testDB, id string) *scans.Scan {
	t.Helper()
	s, err := scans.Get(context.Background(), d.read, id)
	if err != nil {
		t.Fatalf("get scan: %v", err)
	}
	return s
}

func count(t testing.TB, d *testDB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.read.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// canonicalScan makes JSON fields comparable across engines.
func canonicalScan(t *testing.T, s *scans.Scan) {
	s.InputsSnapshot = canonicalJSON(t, s.InputsSnapshot)
	if s.Summary != nil {
		s.Summary.SummaryJSON = canonicalJSON(t, s.Summary.SummaryJSON)
		s.Summary.ProsConsJSON = canonicalJSON(t, s.Summary.ProsConsJSON)
		s.Summary.CostSummary = canonicalJSON(t, s.Summary.CostSummary)
	}
}

func wantImages(h *history, up scan.ImagesUploaded, at time.Time) ([]scans.Room, []scans.Image) {
	rooms := []scans.Room{}
	all := []scans.Image{}
	for _, r := range up.Rooms {
		room := scans.Room{ID: r.RoomID, ScanID: h.ScanID, Ordinal: r.Ordinal, Label: ptr(r.Label),
			DetectedRoomTypes: []string{}, CreatedAt: ms(at), Images: []scans.Image{}}
		for i, im := range r.Images {
			img := scans.Image{ID: im.ImageID, ScanID: h.ScanID, RoomID: ptr(r.RoomID), URL: im.BlobKey,
				BlobKey: im.BlobKey, ContentType: im.ContentType, Bytes: im.Bytes, SHA256: im.SHA256, Ordinal: i,
				CreatedAt: ms(at)}
			room.Images = append(room.Images, img)
			all = append(all, img)
		}
		rooms = append(rooms, room)
	}
	return rooms, all
}

func TestScans_FullLifecycleGivesTheRowsGetScanShows(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		user := domain.NewID()
		h := w.create(user, "", "1 Main St")
		createdAt := h.at
		up := h.upload("", 2, 1)
		uploadedAt := h.at
		h.start(1)
		startedAt := ms(h.at)
		h.progress(1, 10, "Preparing request")
		h.progress(1, 20, "Analyzing images")
		h.progress(1, 90, "Saving results")
		h.progress(1, 100, "Complete")
		c := h.complete(1, up)
		finishedAt := ms(h.at)
		w.catchUp(d, newScansProjector())

		got := getScan(t, d, h.ScanID)
		rooms, images := wantImages(h, up, uploadedAt)
		rooms[0].DetectedRoomTypes = []string{"kitchen"}
		rooms[1].DetectedRoomTypes = []string{"bedroom"}
		run0, run1 := c.AgentRuns[0], c.AgentRuns[1]
		want := &scans.Scan{
			ID: h.ScanID, HouseID: h.HouseID, UserID: user, Status: "succeeded",
			InputsSnapshot:     []byte(`{"house_type":"apartment","address":"1 Main St","rooms_count":2,"images_count":3}`),
			DetectedHouseTypes: []string{"apartment", "studio"},
			StartedAt:          &startedAt, FinishedAt: &finishedAt, CreatedAt: ms(createdAt),
			Attempt: 1, Progress: ptr(100), Stage: ptr("Complete"), Version: 7, UpdatedAt: finishedAt,
			House: scans.House{ID: h.HouseID, UserID: user, Address: ptr("1 Main St"), HouseType: ptr("apartment"),
				Status: "active", CreatedAt: ms(createdAt), UpdatedAt: finishedAt},
			Rooms:  rooms,
			Images: images,
			Summary: &scans.Summary{ScanID: h.ScanID, SummaryJSON: c.ClientSummary, ProsConsJSON: c.ProsCons,
				CostSummary: c.CostInfo, SchemaVersion: ptr("2.0.0"), DerivedAt: finishedAt},
			// Most recently started first; costs print as Prisma's Decimal does.
			AgentRuns: []scans.AgentRun{
				{ID: run1.ID, ScanID: h.ScanID, AgentName: run1.AgentName, Model: ptr(run1.Model), Attempt: 1,
					TokensIn: 20, TokensOut: 10, CostUSD: ptr("0.0004"), StartedAt: ptr(ms(run1.StartedAt)),
					FinishedAt: ptr(ms(run1.FinishedAt)), CreatedAt: finishedAt},
				{ID: run0.ID, ScanID: h.ScanID, AgentName: run0.AgentName, Model: ptr(run0.Model), Attempt: 1,
					TokensIn: 80, TokensOut: 10, CostUSD: ptr("0.0008"), StartedAt: ptr(ms(run0.StartedAt)),
					FinishedAt: ptr(ms(run0.FinishedAt)), CreatedAt: finishedAt},
			},
		}
		if got.Summary == nil || !domain.ValidID(got.Summary.ID) {
			t.Fatalf("summary = %+v, want a row with a UUID", got.Summary)
		}
		want.Summary.ID = got.Summary.ID
		canonicalScan(t, got)
		canonicalScan(t, want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("scan:\n got %+v\nwant %+v", got, want)
		}

		list, err := scans.ListByUser(context.Background(), d.read, user)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("ListByUser gave %d scans, want 1", len(list))
		}
		canonicalScan(t, &list[0])
		if !reflect.DeepEqual(&list[0], want) {
			t.Errorf("ListByUser:\n got %+v\nwant %+v", list[0], want)
		}
	})
}

func TestScans_ReuploadReplacesRoomsAndImagesAndClearsSummaryAndRuns(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.create(domain.NewID(), "", "1 Main St")
		up := h.upload("", 2, 2)
		h.start(1)
		h.complete(1, up)
		w.catchUp(d, newScansProjector())

		up2 := h.upload("2 Side St", 1)
		uploadedAt := h.at
		w.catchUp(d, newScansProjector())

		got := getScan(t, d, h.ScanID)
		rooms, images := wantImages(h, up2, uploadedAt)
		if !reflect.DeepEqual(got.Rooms, rooms) || !reflect.DeepEqual(got.Images, images) {
			t.Errorf("rooms/images:\n got %+v %+v\nwant %+v %+v", got.Rooms, got.Images, rooms, images)
		}
		if got.Status != "queued" || string(got.InputsSnapshot) != "null" || len(got.DetectedHouseTypes) != 0 ||
			got.StartedAt != nil || got.FinishedAt != nil || got.Progress != nil || got.Summary != nil || len(got.AgentRuns) != 0 {
			t.Errorf("scan after re-upload = %+v, want queued, inputs null, no types, times, summary or runs", got)
		}
		if a := got.House.Address; a == nil || *a != "2 Side St" {
			t.Errorf("house address = %v, want the re-upload's", a)
		}
		for table, want := range map[string]int{"rooms": 1, "house_room_images": 1, "house_scan_summary": 0, "agents_runs": 0} {
			if n := count(t, d, "SELECT count(*) FROM "+table); n != want {
				t.Errorf("%s has %d rows, want %d", table, n, want)
			}
		}
	})
}

func TestScans_FailureThatWillBeRetriedKeepsTheScanRunningOnTheNextAttempt(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.running(domain.NewID())
		h.progress(1, 20, "Analyzing images")
		h.fail(1, "agents_unreachable", "connection refused", true)
		w.catchUp(d, newScansProjector())

		got := getScan(t, d, h.ScanID)
		if got.Status != "running" || got.Attempt != 2 || got.FailureCode != nil || got.FinishedAt != nil {
			t.Errorf("scan = status %s attempt %d failure %v finished %v; want running, attempt 2, no failure",
				got.Status, got.Attempt, got.FailureCode, got.FinishedAt)
		}
		if got.Progress == nil || *got.Progress != 0 {
			t.Errorf("progress = %v, want 0 for the new attempt", got.Progress)
		}
	})
}

func TestScans_FinalFailureMarksTheScanFailedUntilItIsUploadedAgain(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.running(domain.NewID())
		h.fail(1, "agents_http_422", "Python agents service unavailable", false)
		failedAt := ms(h.at)
		w.catchUp(d, newScansProjector())

		got := getScan(t, d, h.ScanID)
		if got.Status != "failed" || got.FailureCode == nil || *got.FailureCode != "agents_http_422" ||
			got.FailureReason == nil || *got.FailureReason != "Python agents service unavailable" ||
			got.FinishedAt == nil || !got.FinishedAt.Equal(failedAt) {
			t.Errorf("scan = %+v; want failed with code, reason and finishedAt %v", got, failedAt)
		}

		h.upload("", 1)
		w.catchUp(d, newScansProjector())
		got = getScan(t, d, h.ScanID)
		if got.Status != "queued" || got.FailureCode != nil || got.FailureReason != nil || got.FinishedAt != nil {
			t.Errorf("scan after re-upload = %+v; want queued without failure", got)
		}
	})
}

func TestScans_DeletedRemovesTheScanAndItsHouseOnlyWithItsLastScan(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		user := domain.NewID()
		a := w.create(user, "", "1 Main St")
		upA := a.upload("", 2, 1)
		a.start(1)
		a.complete(1, upA)
		b := w.create(user, a.HouseID, "")
		b.upload("", 1)
		w.catchUp(d, newScansProjector())

		if n, err := scans.CountOtherScans(ctx, d.read, a.HouseID, a.ScanID); err != nil || n != 1 {
			t.Fatalf("CountOtherScans = %d, %v; want 1", n, err)
		}
		a.delete()
		w.catchUp(d, newScansProjector())

		if _, err := scans.Get(ctx, d.read, a.ScanID); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("Get deleted scan: %v, want not found", err)
		}
		for _, table := range []string{"rooms", "house_room_images", "house_scan_summary", "agents_runs"} {
			if n := count(t, d, "SELECT count(*) FROM "+table+" WHERE scan_id = $1", a.ScanID); n != 0 {
				t.Errorf("%s keeps %d rows of the deleted scan", table, n)
			}
		}
		if n := count(t, d, "SELECT count(*) FROM houses WHERE id = $1", a.HouseID); n != 1 {
			t.Errorf("house deleted while scan %s still uses it", b.ScanID)
		}
		if got := getScan(t, d, b.ScanID); len(got.Rooms) != 1 || got.House.Address == nil || *got.House.Address != "1 Main St" {
			t.Errorf("other scan = %+v, want untouched", got)
		}

		b.delete()
		w.catchUp(d, newScansProjector())
		if n := count(t, d, "SELECT count(*) FROM houses"); n != 0 {
			t.Errorf("%d houses left after their last scan was deleted", n)
		}
		if n := count(t, d, "SELECT count(*) FROM scans"); n != 0 {
			t.Errorf("%d scans left", n)
		}
	})
}

func TestScans_CompletedSetsRoomTypesOnlyOnRoomsOfItsOwnScan(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		a := w.create(domain.NewID(), "", "")
		upA := a.upload("", 1)
		b := w.create(domain.NewID(), "", "")
		upB := b.upload("", 1)
		b.start(1)
		w.catchUp(d, newScansProjector())
		// The analyzer names a room of another user's scan.
		b.complete(1, upB, upA.Rooms[0].RoomID)
		w.catchUp(d, newScansProjector())

		if got := getScan(t, d, a.ScanID).Rooms[0].DetectedRoomTypes; len(got) != 0 {
			t.Errorf("room of scan A got types %v from scan B's result", got)
		}
		if got := getScan(t, d, b.ScanID).Rooms[0].DetectedRoomTypes; !reflect.DeepEqual(got, []string{"kitchen"}) {
			t.Errorf("room of scan B has types %v, want [kitchen]", got)
		}
	})
}

func TestScans_ListByUserReturnsOnlyThatUsersScansNewestFirst(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		u1, u2 := domain.NewID(), domain.NewID()
		var ids []string
		for i := 0; i < 3; i++ {
			h := w.create(u1, "", "")
			up := h.upload("", i+1)
			if i == 1 {
				h.start(1)
				h.complete(1, up)
			}
			ids = append([]string{h.ScanID}, ids...)
		}
		w.create(u2, "", "").upload("", 1)
		w.catchUp(d, newScansProjector())

		list, err := scans.ListByUser(ctx, d.read, u1)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, s := range list {
			got = append(got, s.ID)
			one := getScan(t, d, s.ID)
			canonicalScan(t, one)
			canonicalScan(t, &list[i])
			if !reflect.DeepEqual(&list[i], one) {
				t.Errorf("listed scan %s differs from Get:\n got %+v\nwant %+v", s.ID, list[i], one)
			}
		}
		if !reflect.DeepEqual(got, ids) {
			t.Errorf("ListByUser = %v, want %v (newest first, only the user's)", got, ids)
		}
		if list, err := scans.ListByUser(ctx, d.read, domain.NewID()); err != nil || len(list) != 0 {
			t.Errorf("ListByUser(unknown user) = %v, %v; want empty", list, err)
		}
	})
}

func TestScans_OwnerTellsWhoOwnsAScanAndItsStatus(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		user := domain.NewID()
		h := w.running(user)
		w.catchUp(d, newScansProjector())

		got, err := scans.Owner(ctx, d.read, h.ScanID)
		want := scans.Ownership{ScanID: h.ScanID, UserID: user, HouseID: h.HouseID, Status: "running", Attempt: 1, Version: 2}
		if err != nil || got != want {
			t.Errorf("Owner = %+v, %v; want %+v", got, err, want)
		}
		for _, id := range []string{domain.NewID(), "not-a-uuid"} {
			if _, err := scans.Owner(ctx, d.read, id); domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Errorf("Owner(%q) error = %v, want not found", id, err)
			}
		}
	})
}

func TestScans_AScanCreatedForAHouseWhoseLastScanWasJustDeletedStartsItAfresh(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		user := domain.NewID()
		a := w.create(user, "", "1 Main St")
		up := a.upload("", 1)
		a.start(1)
		a.complete(1, up) // the house gets a type
		w.catchUp(d, newScansProjector())
		// In one batch: the house's only scan goes, then a new scan names the house.
		a.delete()
		b := w.create(user, a.HouseID, "")
		w.catchUp(d, newScansProjector())

		h := getScan(t, d, b.ScanID).House
		if h.Address != nil || h.HouseType != nil || !h.CreatedAt.Equal(ms(b.at)) || h.Status != "active" {
			t.Errorf("house = %+v; want it recreated by the new scan (no address, no type, created %v)", h, ms(b.at))
		}
	})
}

func TestScans_AnEventAfterADeleteInTheSameBatchFindsTheScanGone(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		user := domain.NewID()
		h := w.create(user, "", "1 Main St")
		h.upload("", 2)
		// In one batch: the scan is deleted, then its stream goes on with a Created, as
		// only a buggy or future writer could: the scan starts afresh, with nothing of
		// its first life.
		h.delete()
		house := domain.NewID()
		again, err := scan.Encode(scan.Created{ScanID: h.ScanID, UserID: user, HouseID: house, NewHouse: true})
		if err != nil {
			t.Fatal(err)
		}
		h.raw(scan.TypeCreated, again)
		rs := w.catchUp(d, newScansProjector())
		if s := rs[0].Stats(); s.Failures != 0 || s.Batches != 1 {
			t.Errorf("stats = %+v; want the batch applied whole, without falling back to one event at a time", s)
		}

		got := getScan(t, d, h.ScanID)
		if got.Status != "queued" || len(got.Images) != 0 || len(got.Rooms) != 0 || got.House.ID != house {
			t.Errorf("scan = status %s, %d rooms, %d images, house %s; want a fresh queued scan of house %s",
				got.Status, len(got.Rooms), len(got.Images), got.House.ID, house)
		}
		if n := count(t, d, "SELECT count(*) FROM houses WHERE id = $1", h.HouseID); n != 0 {
			t.Errorf("the first house, whose only scan was deleted, is still there")
		}
	})
}

func TestScans_HouseOwnerTellsWhoseAHouseIs(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		ctx := context.Background()
		user := domain.NewID()
		h := w.create(user, "", "1 Main St")
		w.catchUp(d, newScansProjector())
		if owner, err := scans.HouseOwner(ctx, d.read, h.HouseID); err != nil || owner != user {
			t.Errorf("HouseOwner = %q, %v; want %q", owner, err, user)
		}
		for _, id := range []string{domain.NewID(), "not-a-uuid"} {
			if owner, err := scans.HouseOwner(ctx, d.read, id); domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Errorf("HouseOwner(%s) = %q, %v; want not found", id, owner, err)
			}
		}
	})
}

// A run the worker priced from the registry names the price it used (its model id);
// the run is projected with it, not refused as malformed.
func TestScans_ARunPricedFromTheRegistryIsProjectedWithItsModelID(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		h := w.create(domain.NewID(), "", "1 Main St")
		h.upload("", 1, 1)
		h.start(1)
		run, price := domain.NewID(), domain.NewID()
		h.append(scan.Completed{Attempt: 1, PipelineVersion: "2.0.0", AgentRuns: []scan.AgentRun{{
			ID: run, AgentName: "house type", Model: "gpt-4o-mini", ModelID: price, TokensIn: 80, TokensOut: 10,
			CostUSD: "0.0008", StartedAt: h.w.now, FinishedAt: h.w.now}}})
		w.catchUp(d, newScansProjector())
		if got := getScan(t, d, h.ScanID); got.Status != "succeeded" || len(got.AgentRuns) != 1 || got.AgentRuns[0].ID != run {
			t.Fatalf("status %s, agent runs %+v; want the completion and its run projected", got.Status, got.AgentRuns)
		}
		if n := count(t, d, `SELECT count(*) FROM agents_runs WHERE id = $1 AND model_id = $2`, run, price); n != 1 {
			t.Errorf("%d runs with the price's id, want 1", n)
		}
	})
}

// A read model built after a user was forgotten (a rebuild, or a projector that was
// behind) shows their sealed address as erased; another user's reads as stored.
func TestScans_AForgottenUsersAddressProjectsAsErased(t *testing.T) {
	forEachWorld(t, func(t *testing.T, d *testDB, w *world) {
		gone, kept := domain.NewID(), domain.NewID()
		hg := w.create(gone, "", "1 Main St")
		hg.upload("2 Side St", 1)
		hg.start(1)
		hk := w.create(kept, "", "3 High St")
		if err := testCipher.Keys.Destroy(context.Background(), gone); err != nil {
			t.Fatal(err)
		}
		w.catchUp(d, newScansProjector())

		g := getScan(t, d, hg.ScanID)
		if g.House.Address == nil || *g.House.Address != personal.Erased {
			t.Fatalf("forgotten user's house address: %v, want %s", g.House.Address, personal.Erased)
		}
		var snap struct{ Address string }
		if err := json.Unmarshal(g.InputsSnapshot, &snap); err != nil || snap.Address != personal.Erased {
			t.Fatalf("forgotten user's inputs snapshot: %s", g.InputsSnapshot)
		}
		k := getScan(t, d, hk.ScanID)
		if k.House.Address == nil || *k.House.Address != "3 High St" {
			t.Fatalf("kept user's house address: %v", k.House.Address)
		}
	})
}
