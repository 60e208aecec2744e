package scan_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/scan"
)

// spec is one given/when/then rule of the Scan aggregate.
type spec struct {
	name  string
	given []scan.Event
	when  func(s *scan.Scan) error
	then  []scan.Event // expected new events (nil when an error is expected)
	code  string       // expected domain error code
	msg   string       // expected message (optional)
}

func (sp spec) run(t *testing.T) {
	t.Helper()
	t.Run(sp.name, func(t *testing.T) {
		s := scan.New("s1")
		for _, e := range sp.given {
			s.Apply(e)
		}
		before := s.Version
		err := sp.when(s)
		if sp.code != "" {
			if err == nil {
				t.Fatalf("expected a %s error, got events %+v", sp.code, s.Changes())
			}
			if got := domain.ErrorCode(err); got != sp.code {
				t.Fatalf("error code = %s (%v), want %s", got, err, sp.code)
			}
			if sp.msg != "" && domain.ErrorMessage(err) != sp.msg {
				t.Fatalf("message = %q, want %q", domain.ErrorMessage(err), sp.msg)
			}
			if len(s.Changes()) != 0 || s.Version != before {
				t.Fatalf("a rejected command must raise nothing, got %+v", s.Changes())
			}
			return
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if !reflect.DeepEqual(s.Changes(), sp.then) {
			t.Fatalf("events:\n got %#v\nwant %#v", s.Changes(), sp.then)
		}
	})
}

var (
	created  = scan.Created{ScanID: "s1", UserID: "u1", HouseID: "h1", NewHouse: true, Address: "1 Main St"}
	room0    = scan.Room{RoomID: "r0", Ordinal: 0, Label: "Room 1", Images: []scan.Image{{ImageID: "i0", BlobKey: "scans/s1/i0.jpg", ContentType: "image/jpeg", Bytes: 10, SHA256: "ab"}}}
	uploaded = scan.ImagesUploaded{Rooms: []scan.Room{room0}}
	started1 = scan.ProcessingStarted{Attempt: 1}
	progress = func(a, p int) scan.ProgressReported {
		return scan.ProgressReported{Attempt: a, Progress: p, Stage: "x"}
	}
	completed = scan.Completed{Attempt: 1, HouseTypes: []string{}, Rooms: []scan.RoomTypes{}, AgentRuns: []scan.AgentRun{}}
	failed1   = scan.Failed{Attempt: 1, Code: "boom", Reason: "boom"}
)

func TestCreate(t *testing.T) {
	for _, sp := range []spec{
		{name: "a new scan is created once",
			when: func(s *scan.Scan) error { return s.Create("u1", "h1", true, "1 Main St") },
			then: []scan.Event{created}},
		{name: "creating an existing scan is a conflict",
			given: []scan.Event{created},
			when:  func(s *scan.Scan) error { return s.Create("u1", "h1", true, "") },
			code:  domain.ECONFLICT},
		{name: "creating a deleted scan is a conflict",
			given: []scan.Event{created, scan.Deleted{}},
			when:  func(s *scan.Scan) error { return s.Create("u1", "h1", true, "") },
			code:  domain.ECONFLICT},
		{name: "a scan needs a user and a house",
			when: func(s *scan.Scan) error { return s.Create("", "h1", true, "") },
			code: domain.EINVALID},
	} {
		sp.run(t)
	}
}

func TestUploadImages(t *testing.T) {
	up := func(s *scan.Scan) error { return s.UploadImages([]scan.Room{room0}, "") }
	for _, sp := range []spec{
		{name: "upload to a queued scan", given: []scan.Event{created}, when: up, then: []scan.Event{uploaded}},
		{name: "re-upload replaces the rooms", given: []scan.Event{created, uploaded}, when: up, then: []scan.Event{uploaded}},
		{name: "upload to a failed scan is allowed", given: []scan.Event{created, uploaded, started1, failed1}, when: up, then: []scan.Event{uploaded}},
		{name: "upload while running is rejected", given: []scan.Event{created, uploaded, started1}, when: up,
			code: domain.EINVALID, msg: "Cannot upload images to a scan that is already processing or completed"},
		{name: "upload after success is rejected", given: []scan.Event{created, uploaded, started1, completed}, when: up,
			code: domain.EINVALID, msg: "Cannot upload images to a scan that is already processing or completed"},
		{name: "upload without images is rejected", given: []scan.Event{created},
			when: func(s *scan.Scan) error { return s.UploadImages([]scan.Room{{RoomID: "r"}}, "") },
			code: domain.EINVALID, msg: "No images provided"},
		{name: "upload to an unknown scan is not found", when: up, code: domain.ENOTFOUND, msg: "Scan not found"},
		{name: "upload to a deleted scan is not found", given: []scan.Event{created, scan.Deleted{}}, when: up, code: domain.ENOTFOUND},
		{name: "too many rooms is too large", given: []scan.Event{created},
			when: func(s *scan.Scan) error {
				rooms := make([]scan.Room, scan.MaxRooms+1)
				for i := range rooms {
					rooms[i] = room0
				}
				return s.UploadImages(rooms, "")
			}, code: domain.ETOOLARGE},
	} {
		sp.run(t)
	}
}

// The check an upload makes before reading its photos gives the answer UploadImages
// would give on the same state, so the fast refusal and the decision never disagree.
func TestAcceptsImagesAnswersAsUploadImagesDoes(t *testing.T) {
	for _, given := range [][]scan.Event{
		nil,
		{created},
		{created, uploaded, started1},
		{created, uploaded, started1, completed},
		{created, uploaded, started1, failed1},
		{created, scan.Deleted{}},
	} {
		s := scan.New("s1")
		for _, e := range given {
			s.Apply(e)
		}
		early := s.AcceptsImages()
		late := s.UploadImages([]scan.Room{room0}, "")
		if domain.ErrorCode(early) != domain.ErrorCode(late) || domain.ErrorMessage(early) != domain.ErrorMessage(late) {
			t.Errorf("after %d events: AcceptsImages says %v, UploadImages %v", len(given), early, late)
		}
	}
}

func TestStartProcessing(t *testing.T) {
	start := func(s *scan.Scan) error { return s.StartProcessing("u1", scan.Checklists{}, nil) }
	address, villa := "1 Main St", "villa"
	// The attempt's inputs are taken from the state it starts on: the address, rooms and
	// photos the scan has, and the house type the caller looked up.
	inputs := scan.InputsSnapshot{Address: &address, RoomsCount: 1, ImagesCount: 1}
	lists := scan.Checklists{House: []byte(`{"a":1}`)}
	for _, sp := range []spec{
		{name: "processing a queued scan with images starts attempt 1",
			given: []scan.Event{created, uploaded}, when: start,
			then: []scan.Event{scan.ProcessingStarted{Attempt: 1, InputsSnapshot: inputs}}},
		{name: "processing a failed scan starts the next attempt",
			given: []scan.Event{created, uploaded, started1, failed1}, when: start,
			then: []scan.Event{scan.ProcessingStarted{Attempt: 2, InputsSnapshot: inputs}}},
		{name: "the attempt records the checklists and the house type it was started with",
			given: []scan.Event{created, uploaded},
			when:  func(s *scan.Scan) error { return s.StartProcessing("u1", lists, &villa) },
			then: []scan.Event{scan.ProcessingStarted{Attempt: 1, Checklists: lists,
				InputsSnapshot: scan.InputsSnapshot{HouseType: &villa, Address: &address, RoomsCount: 1, ImagesCount: 1}}}},
		{name: "a scan without an address records none",
			given: []scan.Event{scan.Created{ScanID: "s1", UserID: "u1", HouseID: "h1"}, uploaded}, when: start,
			then: []scan.Event{scan.ProcessingStarted{Attempt: 1, InputsSnapshot: scan.InputsSnapshot{RoomsCount: 1, ImagesCount: 1}}}},
		{name: "another user's scan is not found", given: []scan.Event{created, uploaded},
			when: func(s *scan.Scan) error { return s.StartProcessing("u2", scan.Checklists{}, nil) },
			code: domain.ENOTFOUND, msg: "Scan not found"},
		{name: "processing twice is rejected", given: []scan.Event{created, uploaded, started1}, when: start,
			code: domain.EINVALID, msg: "Scan is already processing"},
		{name: "processing a completed scan is rejected", given: []scan.Event{created, uploaded, started1, completed}, when: start,
			code: domain.EINVALID, msg: "Scan has already been completed"},
		{name: "processing without images is rejected", given: []scan.Event{created}, when: start,
			code: domain.EINVALID, msg: "No images found for this scan"},
		{name: "processing an unknown scan is not found", when: start, code: domain.ENOTFOUND},
	} {
		sp.run(t)
	}
}

func TestReportProgress(t *testing.T) {
	running := []scan.Event{created, uploaded, started1}
	report := func(a, p int) func(s *scan.Scan) error {
		return func(s *scan.Scan) error { return s.ReportProgress(a, p, "x", nil) }
	}
	for _, sp := range []spec{
		{name: "progress while running", given: running, when: report(1, 10), then: []scan.Event{progress(1, 10)}},
		{name: "progress may repeat a value", given: append(running, progress(1, 10)), when: report(1, 10), then: []scan.Event{progress(1, 10)}},
		{name: "progress never decreases within an attempt", given: append(running, progress(1, 50)), when: report(1, 20), code: domain.EINVALID},
		{name: "progress starts again in a new attempt",
			given: []scan.Event{created, uploaded, started1, progress(1, 80), failed1, scan.ProcessingStarted{Attempt: 2}},
			when:  report(2, 10), then: []scan.Event{progress(2, 10)}},
		{name: "progress above 100 is rejected", given: running, when: report(1, 101), code: domain.EINVALID},
		{name: "progress below 0 is rejected", given: running, when: report(1, -1), code: domain.EINVALID},
		{name: "progress for an old attempt is rejected",
			given: []scan.Event{created, uploaded, started1, failed1, scan.ProcessingStarted{Attempt: 2}},
			when:  report(1, 10), code: domain.ECONFLICT},
		{name: "progress when not running is rejected", given: []scan.Event{created, uploaded}, when: report(1, 10), code: domain.ECONFLICT},
	} {
		sp.run(t)
	}
}

func TestCompleteAndFail(t *testing.T) {
	running := []scan.Event{created, uploaded, started1}
	for _, sp := range []spec{
		{name: "the current attempt completes",
			given: running, when: func(s *scan.Scan) error { return s.Complete(scan.Completed{Attempt: 1}) },
			then: []scan.Event{completed}},
		{name: "room types for rooms of other scans are dropped",
			given: running,
			when: func(s *scan.Scan) error {
				return s.Complete(scan.Completed{Attempt: 1, Rooms: []scan.RoomTypes{{RoomID: "r0", RoomTypes: []string{"kitchen"}}, {RoomID: "elsewhere", RoomTypes: []string{"x"}}}})
			},
			then: []scan.Event{scan.Completed{Attempt: 1, HouseTypes: []string{}, Rooms: []scan.RoomTypes{{RoomID: "r0", RoomTypes: []string{"kitchen"}}}, AgentRuns: []scan.AgentRun{}}}},
		{name: "a late result from a superseded attempt is rejected",
			given: []scan.Event{created, uploaded, started1, failed1, scan.ProcessingStarted{Attempt: 2}},
			when:  func(s *scan.Scan) error { return s.Complete(scan.Completed{Attempt: 1}) }, code: domain.ECONFLICT},
		{name: "completing twice is rejected",
			given: append(running, completed),
			when:  func(s *scan.Scan) error { return s.Complete(scan.Completed{Attempt: 1}) }, code: domain.ECONFLICT},
		{name: "the current attempt fails",
			given: running, when: func(s *scan.Scan) error { return s.Fail(1, "boom", "boom", false) },
			then: []scan.Event{failed1}},
		{name: "failing when not running is rejected",
			given: []scan.Event{created, uploaded},
			when:  func(s *scan.Scan) error { return s.Fail(1, "boom", "boom", false) }, code: domain.ECONFLICT},
		{name: "a retry fails the attempt and starts the next one in the same append",
			given: running, when: func(s *scan.Scan) error { return s.Retry(1, "agents_unavailable", "503") },
			then: []scan.Event{
				scan.Failed{Attempt: 1, Code: "agents_unavailable", Reason: "503", Retryable: true, WillRetry: true},
				scan.ProcessingStarted{Attempt: 2, Retry: 1},
			}},
		{name: "a retry of a superseded attempt is rejected",
			given: []scan.Event{created, uploaded, started1, failed1, scan.ProcessingStarted{Attempt: 2}},
			when:  func(s *scan.Scan) error { return s.Retry(1, "x", "x") }, code: domain.ECONFLICT},
	} {
		sp.run(t)
	}
}

func TestDelete(t *testing.T) {
	del := func(s *scan.Scan) error { return s.Delete() }
	for _, sp := range []spec{
		{name: "a scan can be deleted", given: []scan.Event{created}, when: del, then: []scan.Event{scan.Deleted{}}},
		{name: "a running scan can be deleted", given: []scan.Event{created, uploaded, started1}, when: del, then: []scan.Event{scan.Deleted{}}},
		{name: "deleting twice is not found", given: []scan.Event{created, scan.Deleted{}}, when: del, code: domain.ENOTFOUND},
		{name: "nothing happens after Deleted: no progress",
			given: []scan.Event{created, uploaded, started1, scan.Deleted{}},
			when:  func(s *scan.Scan) error { return s.ReportProgress(1, 50, "x", nil) }, code: domain.ENOTFOUND},
		{name: "nothing happens after Deleted: no completion",
			given: []scan.Event{created, uploaded, started1, scan.Deleted{}},
			when:  func(s *scan.Scan) error { return s.Complete(scan.Completed{Attempt: 1}) }, code: domain.ENOTFOUND},
	} {
		sp.run(t)
	}
}

func TestOwnership(t *testing.T) {
	s := scan.New("s1")
	s.Apply(created)
	if err := s.OwnedBy("u1"); err != nil {
		t.Fatalf("owner: %v", err)
	}
	if err := s.OwnedBy("u2"); !errors.Is(err, &domain.Error{Code: domain.ENOTFOUND}) {
		t.Fatalf("another user must get not found, got %v", err)
	}
}

// Long texts are shortened to their limit without splitting a character: a stage or
// failure reason cut in the middle of a UTF-8 sequence would be stored as invalid text.
func TestLongTextsAreCutAtACharacterBoundary(t *testing.T) {
	long := strings.Repeat("é", scan.MaxReasonLen) // two bytes each: the limit falls inside one
	long = "x" + long
	s := scan.New("s1")
	for _, e := range []scan.Event{created, uploaded, started1} {
		s.Apply(e)
	}
	if err := s.ReportProgress(1, 10, long, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(1, "boom", long, false); err != nil {
		t.Fatal(err)
	}
	changes := s.Changes()
	stage := changes[0].(scan.ProgressReported).Stage
	reason := changes[1].(scan.Failed).Reason
	for name, got := range map[string]struct {
		text  string
		limit int
	}{"stage": {stage, scan.MaxStageLen}, "reason": {reason, scan.MaxReasonLen}} {
		if !utf8.ValidString(got.text) {
			t.Errorf("%s is not valid UTF-8 after cutting: %q", name, got.text[len(got.text)-3:])
		}
		if len(got.text) > got.limit || len(got.text) < got.limit-1 {
			t.Errorf("%s is %d bytes, want the longest prefix within %d", name, len(got.text), got.limit)
		}
	}
}

// An analyzer's strings reach every read model, and PostgreSQL cannot store NUL in
// text nor \u0000 in JSON: a result carrying a control character anywhere is refused
// before it becomes an event, so no projection ever parks a Completed the domain let
// in.
func TestAResultWithControlCharactersIsRefused(t *testing.T) {
	running := []scan.Event{created, uploaded, started1}
	for name, c := range map[string]scan.Completed{
		"house type":       {Attempt: 1, HouseTypes: []string{"villa\x00"}},
		"room type":        {Attempt: 1, Rooms: []scan.RoomTypes{{RoomID: "r0", RoomTypes: []string{"kit\x07chen"}}}},
		"pipeline version": {Attempt: 1, PipelineVersion: "2.0\x00"},
		"agent name":       {Attempt: 1, AgentRuns: []scan.AgentRun{{ID: "a", AgentName: "house\x1b"}}},
		"result string":    {Attempt: 1, Result: []byte(`{"pros_cons":{"pros":["good\u0000"]}}`)},
		"result key":       {Attempt: 1, Result: []byte(`{"summary\u0000":1}`)},
		"client summary":   {Attempt: 1, ClientSummary: []byte(`{"house":{"x":["a\u0001b"]}}`)},
		"pros and cons":    {Attempt: 1, ProsCons: []byte(`{"pros":[],"cons":["\u0000"]}`)},
		"cost info":        {Attempt: 1, CostInfo: []byte(`{"pricing_note":"x\u007fy"}`)},
		"invalid UTF-8":    {Attempt: 1, Result: []byte("{\"a\":\"\xff\"}")},
	} {
		spec{name: name, given: running, when: func(s *scan.Scan) error { return s.Complete(c) }, code: domain.EINVALID}.run(t)
	}
	spec{name: "tabs and line breaks are text", given: running,
		when: func(s *scan.Scan) error {
			return s.Complete(scan.Completed{Attempt: 1, Result: []byte(`{"pros":["a\tb\nc\r"]}`)})
		},
		then: []scan.Event{scan.Completed{Attempt: 1, HouseTypes: []string{}, Rooms: []scan.RoomTypes{}, AgentRuns: []scan.AgentRun{},
			Result: []byte(`{"pros":["a\tb\nc\r"]}`)}}}.run(t)
}

// A failure's code and reason and a progress stage come from the analyzer too, but a
// failure must be recorded whatever its text: control characters and invalid UTF-8
// become U+FFFD instead of refusing the event.
func TestFailureAndProgressTextsFromTheAnalyzerAreCleaned(t *testing.T) {
	running := []scan.Event{created, uploaded, started1}
	for _, sp := range []spec{
		{name: "a failure's reason and code", given: running,
			when: func(s *scan.Scan) error { return s.Fail(1, "bad\x00code", "bad\x00input\xff", false) },
			then: []scan.Event{scan.Failed{Attempt: 1, Code: "bad\uFFFDcode", Reason: "bad\uFFFDinput\uFFFD"}}},
		{name: "a retried failure's reason", given: running,
			when: func(s *scan.Scan) error { return s.Retry(1, "unavailable", "proxy said \x1b[31m") },
			then: []scan.Event{
				scan.Failed{Attempt: 1, Code: "unavailable", Reason: "proxy said \uFFFD[31m", Retryable: true, WillRetry: true},
				scan.ProcessingStarted{Attempt: 2, Retry: 1},
			}},
		{name: "a progress stage", given: running,
			when: func(s *scan.Scan) error { return s.ReportProgress(1, 30, "Rooms\x00", nil) },
			then: []scan.Event{scan.ProgressReported{Attempt: 1, Progress: 30, Stage: "Rooms\uFFFD"}}},
	} {
		sp.run(t)
	}
}
