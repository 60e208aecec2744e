package builtin_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"slices"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/adapters/builtin"
	"github.com/scanledger/scanledger/domain/analysis"
)

func TestBuiltinIsAnAnalyzer(t *testing.T) {
	var _ analysis.Analyzer = builtin.New(newStore())
}

// realScan stores both real photos as room-a/1 and room-b/1.
func realScan(t *testing.T) (*memStore, analysis.Request) {
	s := newStore()
	s.blobs["a1"] = readPhoto(t, "room1-1.jpeg")
	s.blobs["b1"] = readPhoto(t, "room2-1.jpg")
	return s, request(room{"room-a", []string{"a1"}}, room{"room-b", []string{"b1"}})
}

// quickScan is a cheaper scan for specs about the response rather than the photos:
// the smaller real photo as room-a/a1 and a sharp synthetic texture as room-b/b1.
func quickScan(t *testing.T) (*memStore, analysis.Request) {
	s := newStore()
	s.blobs["a1"] = readPhoto(t, "room2-1.jpg")
	s.blobs["b1"] = encodePNG(t, texture(800, 600))
	return s, request(room{"room-a", []string{"a1"}}, room{"room-b", []string{"b1"}})
}

func analyze(t *testing.T, s *memStore, req analysis.Request) *analysis.Response {
	t.Helper()
	resp, err := builtin.New(s).Analyze(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return resp
}

func TestRealPhotosAreCheckedAndPraised(t *testing.T) {
	s, req := realScan(t)
	resp := analyze(t, s, req)
	r := resp.Result
	if want := []string{"room:room-a:image_check:a1:ok", "room:room-b:image_check:b1:ok"}; !slices.Equal(r.Summary.Rooms, want) {
		t.Errorf("summary rooms: got %q, want %q", r.Summary.Rooms, want)
	}
	if want := []string{"house:image_check:usable:2/2"}; !slices.Equal(r.Summary.House, want) {
		t.Errorf("summary house: got %q, want %q", r.Summary.House, want)
	}
	if !slices.Contains(r.ProsCons.Pros, "All 2 photos are well exposed and sharp") {
		t.Errorf("pros: got %q", r.ProsCons.Pros)
	}
	if len(r.ProsCons.Cons) != 0 {
		t.Errorf("cons: got %q, want none (no checklist, good photos)", r.ProsCons.Cons)
	}
	if len(r.Rooms) != 2 || resp.Metadata.RoomsProcessed != 2 || resp.Metadata.TotalImages != 2 {
		t.Errorf("rooms %d, rooms_processed %d, total_images %d; want 2, 2, 2",
			len(r.Rooms), resp.Metadata.RoomsProcessed, resp.Metadata.TotalImages)
	}
	if len(r.HouseTypes) != 0 || len(r.Rooms[0].RoomTypes) != 0 {
		t.Errorf("types: photo statistics cannot tell them, got %q and %q", r.HouseTypes, r.Rooms[0].RoomTypes)
	}
}

func TestSamePhotoUploadedTwiceIsFlaggedAsDuplicate(t *testing.T) {
	s, req := realScan(t)
	s.blobs["b2"] = s.blobs["a1"]
	req.Rooms[1].Images = append(req.Rooms[1].Images, analysis.Image{ID: "b2", BlobKey: "b2"})
	r := analyze(t, s, req).Result
	if !slices.Contains(r.Summary.Rooms, "room:room-b:image_check:b2:duplicate_of:a1") {
		t.Errorf("summary: got %q, want b2 marked duplicate of a1", r.Summary.Rooms)
	}
	if !slices.Contains(r.ProsCons.Cons, "Room 2, photo 2 is a duplicate of Room 1, photo 1: replace it with a different view") {
		t.Errorf("cons: got %q", r.ProsCons.Cons)
	}
	if slices.ContainsFunc(r.Summary.Rooms, func(l string) bool { return strings.Contains(l, "b1:duplicate") }) {
		t.Errorf("two different rooms' photos were called duplicates: %q", r.Summary.Rooms)
	}
}

func TestRescaledReencodedCopyIsANearDuplicate(t *testing.T) {
	s, req := quickScan(t)
	orig := decodeJPEG(t, s.blobs["a1"])
	small := image.NewRGBA(image.Rect(0, 0, 650, 358))
	for y := range 358 {
		for x := range 650 {
			small.Set(x, y, orig.At(2*x, 2*y))
		}
	}
	s.blobs["b2"] = encodePNG(t, small)
	req.Rooms[1].Images = append(req.Rooms[1].Images, analysis.Image{ID: "b2", BlobKey: "b2"})
	r := analyze(t, s, req).Result
	if !slices.Contains(r.Summary.Rooms, "room:room-b:image_check:b2:duplicate_of:a1") {
		t.Errorf("summary: got %q, want the half-size PNG copy in another room marked duplicate of a1", r.Summary.Rooms)
	}
}

func TestBlurredAndDarkPhotosAreReportedWithAdvice(t *testing.T) {
	s, req := quickScan(t)
	s.blobs["b2"] = encodeJPEG(t, boxBlur(decodeJPEG(t, s.blobs["a1"]), 8))
	s.blobs["b3"] = encodePNG(t, uniform(800, 600, color.Black))
	for _, k := range []string{"b2", "b3"} {
		req.Rooms[1].Images = append(req.Rooms[1].Images, analysis.Image{ID: k, BlobKey: k})
	}
	r := analyze(t, s, req).Result
	for _, want := range []string{"room:room-b:image_check:b2:blurry", "room:room-b:image_check:b3:underexposed"} {
		if !slices.Contains(r.Summary.Rooms, want) {
			t.Errorf("summary: got %q, want %q", r.Summary.Rooms, want)
		}
	}
	if !hasPrefix(r.ProsCons.Cons, "Room 2, photo 2 is blurry (sharpness ") ||
		!hasPrefix(r.ProsCons.Cons, "Room 2, photo 3 is too dark (mean brightness 0 of 255, 100% of pixels black)") {
		t.Errorf("cons: got %q", r.ProsCons.Cons)
	}
	if !slices.Contains(r.ProsCons.Pros, "2 of 4 photos are well exposed and sharp") {
		t.Errorf("pros: got %q", r.ProsCons.Pros)
	}
}

func hasPrefix(lines []string, prefix string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func TestCorruptMissingOrHugePhotoIsAFindingNotAFailure(t *testing.T) {
	s, req := quickScan(t)
	s.blobs["b2"] = []byte("this is not an image at all")
	s.blobs["b3"] = s.blobs["a1"][:len(s.blobs["a1"])/3]
	s.blobs["b4"] = pngHeader(10000, 6000)
	for _, k := range []string{"b2", "b3", "gone", "b4"} {
		req.Rooms[1].Images = append(req.Rooms[1].Images, analysis.Image{ID: k, BlobKey: k})
	}
	r := analyze(t, s, req).Result
	for _, want := range []string{
		"room:room-b:image_check:b2:unreadable",
		"room:room-b:image_check:b3:unreadable",
		"room:room-b:image_check:gone:missing",
		"room:room-b:image_check:b4:too_large",
		"room:room-b:image_check:b1:ok",
	} {
		if !slices.Contains(r.Summary.Rooms, want) {
			t.Errorf("summary: got %q, want %q", r.Summary.Rooms, want)
		}
	}
	if !hasPrefix(r.ProsCons.Cons, "Room 2, photo 2 could not be read (not a JPEG") ||
		!hasPrefix(r.ProsCons.Cons, "Room 2, photo 3 could not be read (corrupt jpeg") ||
		!slices.Contains(r.ProsCons.Cons, "Room 2, photo 4 is missing from storage: upload it again") ||
		!slices.Contains(r.ProsCons.Cons, "Room 2, photo 5 is too large to check "+
			"(10000×6000 pixels is over the 50 megapixel limit): upload a smaller copy") {
		t.Errorf("cons: got %q", r.ProsCons.Cons)
	}
	if r.Summary.House[0] != "house:image_check:usable:2/6" {
		t.Errorf("house summary: got %q", r.Summary.House)
	}
}

func TestRoomWithoutAUsablePhotoIsLeftOutOfTheResult(t *testing.T) {
	s, req := quickScan(t)
	s.blobs["c1"] = []byte("garbage")
	req.Rooms = append(req.Rooms, analysis.Room{ID: "room-c", Images: []analysis.Image{{ID: "c1", BlobKey: "c1"}}},
		analysis.Room{ID: "room-d"})
	resp := analyze(t, s, req)
	if resp.Metadata.RoomsProcessed != 2 || len(resp.Result.Rooms) != 2 {
		t.Errorf("rooms_processed %d; want only the 2 rooms with usable photos", resp.Metadata.RoomsProcessed)
	}
	if _, ok := resp.ClientSummary.Rooms["room-c"]; ok {
		t.Error("client_summary lists a room that was not processed")
	}
	for _, want := range []string{"Room 3 has no usable photo: add one", "Room 4 has no photos: add at least one"} {
		if !slices.Contains(resp.Result.ProsCons.Cons, want) {
			t.Errorf("cons: got %q, want %q", resp.Result.ProsCons.Cons, want)
		}
	}
}

func TestBlobTheStoreSaysIsOverTheByteLimitIsRefusedUnread(t *testing.T) {
	s, req := quickScan(t)
	s.sizes["b1"] = 60 << 20 // the bytes are a fine photo: only an unread refusal says too_large
	resp := analyze(t, s, req)
	if !slices.Contains(resp.Result.Summary.Rooms, "room:room-b:image_check:b1:too_large") ||
		!slices.Contains(resp.Result.Summary.Rooms, "room:room-a:image_check:a1:ok") {
		t.Errorf("summary: got %q", resp.Result.Summary.Rooms)
	}
	if !slices.Contains(resp.Result.ProsCons.Cons,
		"Room 2, photo 1 is too large to check (60 MB is over the 50 MB limit): upload a smaller copy") {
		t.Errorf("cons: got %q", resp.Result.ProsCons.Cons)
	}
}

func TestNoDecodablePhotoFailsForGoodWithNoUsableImages(t *testing.T) {
	s := newStore()
	s.blobs["x"] = []byte("<html>not a photo</html>")
	s.blobs["y"] = bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0x00}, 100)
	for name, req := range map[string]analysis.Request{
		"all corrupt": request(room{"r", []string{"x", "y"}}),
		"all missing": request(room{"r", []string{"gone1", "gone2"}}),
		"no photos":   request(room{"r", nil}),
	} {
		_, err := builtin.New(s).Analyze(context.Background(), req, nil)
		var ae *analysis.Error
		if !errors.As(err, &ae) || ae.Code != "no_usable_images" || ae.Retryable || ae.Detail == "" {
			t.Errorf("%s: got %v, want a non-retryable no_usable_images with detail", name, err)
		}
	}
}

func TestStoreFailureOtherThanNotFoundIsRetryable(t *testing.T) {
	s, req := quickScan(t)
	ioErr := errors.New("disk on fire")
	s.fail["b1"] = ioErr
	_, err := builtin.New(s).Analyze(context.Background(), req, nil)
	var ae *analysis.Error
	if !errors.As(err, &ae) || ae.Code != "blob_unavailable" || !ae.Retryable {
		t.Fatalf("got %v, want a retryable blob_unavailable", err)
	}
	if !errors.Is(err, ioErr) {
		t.Errorf("the store's error is not reachable with errors.Is: %v", err)
	}
	if strings.Count(err.Error(), "disk on fire") != 1 || !strings.HasPrefix(err.Error(), "blob_unavailable: ") {
		t.Errorf("message: got %q, want the code and the cause once", err)
	}
}

func TestInvalidChecklistFailsForGood(t *testing.T) {
	s, req := quickScan(t)
	req.RoomsChecklist = []byte(`["not", "an", "object"]`)
	_, err := builtin.New(s).Analyze(context.Background(), req, nil)
	var ae *analysis.Error
	if !errors.As(err, &ae) || ae.Code != "invalid_checklist" || ae.Retryable {
		t.Errorf("got %v, want a non-retryable invalid_checklist", err)
	}
}

func TestProgressIsNonDecreasingAndStaysBetweenTheWorkersMilestones(t *testing.T) {
	s, req := quickScan(t)
	s.blobs["b2"] = s.blobs["b1"]
	s.blobs["b3"] = []byte("corrupt")
	for _, k := range []string{"b2", "b3"} {
		req.Rooms[1].Images = append(req.Rooms[1].Images, analysis.Image{ID: k, BlobKey: k})
	}
	var got []analysis.Progress
	if _, err := builtin.New(s).Analyze(context.Background(), req, func(p analysis.Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4+2 {
		t.Fatalf("got %d reports, want one at the start, one per photo (4) and one at the end", len(got))
	}
	for i, p := range got {
		if p.Percent < 20 || p.Percent > 85 || p.Stage == "" || p.ETA < 0 {
			t.Errorf("report %d out of range: %+v", i, p)
		}
		if i > 0 && p.Percent < got[i-1].Percent {
			t.Errorf("report %d went back: %d after %d", i, p.Percent, got[i-1].Percent)
		}
	}
	if got[0].Percent != 20 || got[len(got)-1].Percent != 85 || got[len(got)-1].ETA != 0 {
		t.Errorf("first %+v, last %+v; want 20 and 85 with no ETA left", got[0], got[len(got)-1])
	}
	if got[1].ETA <= 0 {
		t.Errorf("after the first photo the ETA should come from its measured time, got %v", got[1].ETA)
	}
}

func TestCancellationStopsBetweenPhotos(t *testing.T) {
	s := newStore()
	keys := []string{"p1", "p2", "p3", "p4", "p5"}
	for _, k := range keys {
		s.blobs[k] = readPhoto(t, "room2-1.jpg")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.onOpen = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	_, err := builtin.New(s).Analyze(ctx, request(room{"r", keys}), nil)
	var ae *analysis.Error
	if !errors.As(err, &ae) || ae.Code != "interrupted" || !ae.Retryable || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want a retryable interrupted error matching context.Canceled", err)
	}
	if s.opened > 2 {
		t.Errorf("opened %d photos after cancellation at the 2nd; want it to stop", s.opened)
	}
}
