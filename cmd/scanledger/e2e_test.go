package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// A scan goes from creation to a stored summary through the real binary, in every
// mode, and the live stream tells the whole story in order, resumably.
func TestScanEndToEnd(t *testing.T) {
	inEveryMode(t, scanEndToEnd)
}

func scanEndToEnd(t *testing.T, env []string) {
	srv := startServer(t, t.TempDir(), env...)
	checkOpenAPI(t, srv)
	user := domain.NewID()
	tok := srv.token(user, "user")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := srv.follow(ctx, tok, "", "")

	var created struct{ ScanID, HouseID, Status string }
	r := srv.json("POST", "/api/v1/scans", tok, `{"address":"12 Harbour Road"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	r.data(t, &created)
	if created.Status != "queued" || !domain.ValidID(created.ScanID) || !domain.ValidID(created.HouseID) {
		t.Fatalf("create: %+v", created)
	}
	scanPath := "/api/v1/scans/" + created.ScanID

	// First attempt: a photo that looks like a JPEG but is not one fails the analysis.
	broken := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("not really a jpeg "), 64)...)
	r = srv.upload(scanPath+"/images", tok, []file{{"images", "broken.jpg", broken}}, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if r = srv.json("POST", scanPath+"/process", tok, `{}`); r.Status != http.StatusCreated {
		t.Fatalf("process: %d %s", r.Status, r.Body)
	}
	first := until(t, live, "scan:failed", 60*time.Second)

	// Second attempt: the real photos, one room each; the failed scan accepts them.
	r = srv.upload(scanPath+"/images", tok, photos(t), map[string]string{"rooms": `[{"imageIndices":["0"]},{"imageIndices":[1]}]`})
	if r.Status != http.StatusCreated {
		t.Fatalf("re-upload: %d %s", r.Status, r.Body)
	}
	var up struct {
		RoomsCount, ImagesCount int
		Message                 string
	}
	r.data(t, &up)
	if up.RoomsCount != 2 || up.ImagesCount != 2 || up.Message != "Images uploaded successfully" {
		t.Fatalf("upload answer: %+v", up)
	}
	var proc struct{ ScanID, Status, Message string }
	r = srv.json("POST", scanPath+"/process", tok, `{}`)
	r.data(t, &proc)
	if r.Status != http.StatusCreated || proc.Status != "running" || proc.Message != "Scan processing started" {
		t.Fatalf("process: %d %s", r.Status, r.Body)
	}
	second := until(t, live, "scan:completed", 120*time.Second)
	all := append(first, second...)

	// The five kinds arrive in the flow's order, with increasing ids.
	var kinds []string
	for i, ev := range all {
		if i > 0 && ev.ID <= all[i-1].ID {
			t.Fatalf("ids not increasing: %+v", all)
		}
		if ev.Data["scanId"] != created.ScanID {
			t.Fatalf("event for another scan: %+v", ev)
		}
		if len(kinds) == 0 || kinds[len(kinds)-1] != ev.Event {
			kinds = append(kinds, ev.Event)
		}
	}
	want := "scan:uploaded scan:processing scan:progress scan:failed scan:uploaded scan:processing scan:progress scan:completed"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("event order:\n got %s\nwant %s", got, want)
	}
	last := all[len(all)-1]
	if last.Data["message"] != "Scan completed successfully" || last.Data["result"] == nil {
		t.Fatalf("scan:completed must carry a truthy result: %+v", last.Data)
	}
	for _, ev := range all {
		if ev.Event == "scan:progress" {
			if _, ok := ev.Data["progress"].(float64); !ok || ev.Data["stage"] == "" {
				t.Fatalf("progress payload: %+v", ev.Data)
			}
		}
		if ev.Event == "scan:failed" && ev.Data["error"] == "" {
			t.Fatalf("failed payload: %+v", ev.Data)
		}
	}

	// A second client resuming from the middle gets exactly the rest.
	mid := all[len(all)/2]
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	resumed := srv.follow(ctx2, tok, strconv.FormatInt(mid.ID, 10), "")
	rest := until(t, resumed, "scan:completed", 30*time.Second)
	var wantIDs, gotIDs []int64
	for _, ev := range all {
		if ev.ID > mid.ID {
			wantIDs = append(wantIDs, ev.ID)
		}
	}
	for _, ev := range rest {
		gotIDs = append(gotIDs, ev.ID)
	}
	if !equalIDs(gotIDs, wantIDs) {
		t.Fatalf("resume from %d:\n got %v\nwant %v", mid.ID, gotIDs, wantIDs)
	}

	// GET /scans/:id shows the result in the PWA's shape.
	var got struct {
		ID, Status, HouseID string
		DetectedHouseTypes  []string
		StartedAt           *string
		FinishedAt          *string
		House               struct{ ID, Address string }
		Rooms               []struct {
			ID, Label         string
			Ordinal           int
			DetectedRoomTypes []string
			Images            []struct{ ID, URL string }
		}
		Images  []struct{ ID, URL, RoomID string }
		Summary *struct {
			SummaryJSON  map[string]any `json:"summaryJson"`
			ProsConsJSON struct {
				Pros, Cons []string
			} `json:"prosConsJson"`
			CostSummary map[string]any `json:"costSummary"`
		}
		AgentRuns []struct {
			AgentName           string
			TokensIn, TokensOut *int
			CostUsd             string
		}
	}
	r = srv.do("GET", scanPath, tok, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	r.data(t, &got)
	if got.Status != "succeeded" || got.FinishedAt == nil || got.StartedAt == nil || got.House.Address != "12 Harbour Road" {
		t.Fatalf("scan: %s", r.Body)
	}
	if got.DetectedHouseTypes == nil || len(got.Rooms) != 2 || len(got.Images) != 2 || got.Summary == nil {
		t.Fatalf("scan details: %s", r.Body)
	}
	for i, room := range got.Rooms {
		if room.Ordinal != i || room.Label != "Room "+strconv.Itoa(i+1) || room.DetectedRoomTypes == nil || len(room.Images) != 1 {
			t.Fatalf("room %d: %+v", i, room)
		}
		// Image URLs are signed and load in a browser.
		resp, err := http.Get(room.Images[0].URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("photo URL %s: %d %s", room.Images[0].URL, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if len(got.Summary.ProsConsJSON.Pros)+len(got.Summary.ProsConsJSON.Cons) == 0 || got.Summary.SummaryJSON["checklist_metadata"] == nil {
		t.Fatalf("summary: %s", r.Body)
	}
	for _, run := range got.AgentRuns {
		if run.TokensIn == nil || run.TokensOut == nil || run.CostUsd == "" {
			t.Fatalf("agent run: %+v", run)
		}
	}

	// The summary endpoint works for a processed scan (the original's crashed).
	var sum struct {
		Status              string
		TotalRooms          int
		Gallery, Highlights []string
		Rooms               []struct{ Name string }
	}
	r = srv.do("GET", scanPath+"/summary", tok, "", nil)
	r.data(t, &sum)
	if r.Status != 200 || sum.Status != "succeeded" || sum.TotalRooms != 2 || len(sum.Gallery) != 2 || sum.Rooms[0].Name != "Room 1" {
		t.Fatalf("summary: %d %s", r.Status, r.Body)
	}

	// The history verifies, and it has every step.
	var history []struct{ Type string }
	srv.do("GET", scanPath+"/events", tok, "", nil).data(t, &history)
	var types []string
	for _, h := range history {
		types = append(types, h.Type)
	}
	if types[0] != "Created" || types[len(types)-1] != "Completed" || !strings.Contains(strings.Join(types, " "), "Failed") {
		t.Fatalf("history: %v", types)
	}
	var verified struct{ Valid bool }
	srv.do("GET", scanPath+"/verify", tok, "", nil).data(t, &verified)
	if !verified.Valid {
		t.Fatal("hash chain does not verify")
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// errorBody is the contract's error shape.
type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    any    `json:"message"`
	Path       string `json:"path"`
	Method     string `json:"method"`
}

func expectError(t *testing.T, r response, status int, what string) {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != status || e.StatusCode != status || e.Message == nil || e.Path == "" {
		t.Fatalf("%s: got %d %s, want %d with the contract's error body", what, r.Status, r.Body, status)
	}
	if status == 400 {
		if _, ok := e.Message.([]any); !ok {
			t.Fatalf("%s: a 400's message must be an array: %s", what, r.Body)
		}
	} else if _, ok := e.Message.(string); !ok {
		t.Fatalf("%s: message must be a string: %s", what, r.Body)
	}
}

// Bad input gets a clear 4xx with the contract's error shape, and nothing is stored.
func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, "SCANLEDGER_UPLOAD_MAX_BYTES=200000")
	checkOpenAPI(t, srv)
	alice, bob := domain.NewID(), domain.NewID()
	ta, tb := srv.token(alice, "user"), srv.token(bob, "user")

	var created struct{ ScanID string }
	srv.json("POST", "/api/v1/scans", ta, `{}`).data(t, &created)
	scanPath := "/api/v1/scans/" + created.ScanID
	countEvents := func() int {
		var h []any
		srv.do("GET", scanPath+"/events", ta, "", nil).data(t, &h)
		return len(h)
	}
	countBlobs := func() int {
		n := 0
		filepath.Walk(filepath.Join(dataDir, "blobs"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	baseEvents, baseBlobs := countEvents(), countBlobs()

	expectError(t, srv.upload(scanPath+"/images", ta, []file{{"images", "notes.txt", []byte("just some text, not a photo at all")}}, nil), 415, "non-image upload")
	big := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0}, 300000)...)
	expectError(t, srv.upload(scanPath+"/images", ta, []file{{"images", "big.jpg", big}}, nil), 413, "oversize upload")
	expectError(t, srv.upload(scanPath+"/images", ta, nil, map[string]string{"address": "x"}), 400, "no images")
	expectError(t, srv.upload(scanPath+"/images", ta, []file{{"photo", "a.jpg", photos(t)[1].data}}, nil), 400, "wrong field name")
	expectError(t, srv.upload("/api/v1/scans/"+domain.NewID()+"/images", ta, photos(t)[1:], nil), 404, "upload to an unknown scan")
	expectError(t, srv.upload(scanPath+"/images", tb, photos(t)[1:], nil), 404, "upload to someone else's scan")
	expectError(t, srv.json("POST", scanPath+"/process", ta, `{}`), 400, "process without images")
	expectError(t, srv.do("GET", "/api/v1/scans/not-a-uuid", ta, "", nil), 404, "malformed scan id")
	expectError(t, srv.do("GET", scanPath, tb, "", nil), 404, "someone else's scan")
	expectError(t, srv.do("GET", scanPath+"/events", tb, "", nil), 404, "someone else's history")
	expectError(t, srv.json("POST", "/api/v1/scans", ta, `{"address":`), 400, "malformed JSON")
	expectError(t, srv.json("POST", "/api/v1/scans", ta, `{"address":"x","userId":"someone"}`), 400, "unknown property")
	expectError(t, srv.json("POST", "/api/v1/scans", ta, `{"houseId":"`+domain.NewID()+`"}`), 404, "unknown house")
	expectError(t, srv.json("POST", "/api/v1/scans", "", `{}`), 401, "no token")
	expectError(t, srv.json("POST", "/api/v1/scans", ta+"x", `{}`), 401, "bad token")
	expectError(t, srv.do("GET", "/api/v1/nothing-here", ta, "", nil), 404, "unknown route")

	if e, b := countEvents(), countBlobs(); e != baseEvents || b != baseBlobs {
		t.Fatalf("rejected requests stored something: events %d→%d, blobs %d→%d", baseEvents, e, baseBlobs, b)
	}

	// GET never writes: asking for the summary of an unprocessed scan leaves none behind.
	var pending struct{ Overview string }
	srv.do("GET", scanPath+"/summary", ta, "", nil).data(t, &pending)
	var detail struct{ Summary any }
	srv.do("GET", scanPath, ta, "", nil).data(t, &detail)
	if pending.Overview == "" || detail.Summary != nil || countEvents() != baseEvents {
		t.Fatalf("summary of an unprocessed scan: overview %q, stored summary %v", pending.Overview, detail.Summary)
	}
	// Nothing was ever uploaded: the overview says so, not that a scan is in progress.
	if strings.Contains(pending.Overview, "in progress") || !strings.Contains(pending.Overview, "No photos") {
		t.Fatalf("summary of a scan without photos: overview %q", pending.Overview)
	}
	expectError(t, srv.do("GET", scanPath+"/summary", tb, "", nil), 404, "someone else's summary")

	// Processing twice: the second call is refused and only one attempt starts.
	if r := srv.upload(scanPath+"/images", ta, photos(t)[1:], nil); r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if r := srv.json("POST", scanPath+"/process", ta, `{}`); r.Status != 201 {
		t.Fatalf("process: %d %s", r.Status, r.Body)
	}
	r := srv.json("POST", scanPath+"/process", ta, `{}`)
	if r.Status != 400 || !strings.Contains(string(r.Body), "already") {
		t.Fatalf("second process: %d %s", r.Status, r.Body)
	}
	expectError(t, srv.json("POST", scanPath+"/process", tb, `{}`), 404, "process someone else's scan")
}
