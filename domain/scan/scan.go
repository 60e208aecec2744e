package scan

import (
	"unicode/utf8"

	"github.com/scanledger/scanledger/domain"
)

// Status is a scan's lifecycle state, in the PWA's vocabulary.
type Status string

const (
	StatusNone      Status = "" // the stream does not exist
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
)

// Limits of the domain, checked by the intents so every entry point obeys them.
const (
	MaxRooms         = 50
	MaxImagesPerScan = 200
	MaxStageLen      = 200
	MaxReasonLen     = 4000
)

// Scan is the aggregate. Its fields change only by applying events (Apply), so loading
// a stream and deciding a command see exactly the same state. Intent methods check the
// rules and raise new events, which are applied at once and kept in Changes until the
// handler appends them.
type Scan struct {
	ID       string
	UserID   string
	HouseID  string
	Address  string
	Status   Status
	Deleted  bool
	Rooms    []Room
	Attempt  int // current (latest) attempt, 0 before the first
	Retries  int // automatic retries of the current processing request
	Progress int // last progress of the current attempt
	// Checklists of the current attempt, reused when the worker retries.
	Checklists     Checklists
	InputsSnapshot InputsSnapshot

	// Version is the stream version of the last applied event (-1: no stream).
	Version int64

	changes []Event
}

// New returns the state of a scan whose stream does not exist yet.
func New(id string) *Scan { return &Scan{ID: id, Version: -1} }

// clone returns a deep copy of s without its pending changes: a handler's cached state
// and the copy a command works on (or a caller keeps) share nothing that either could
// write through. Update it with every new reference-typed field.
func (s *Scan) clone() *Scan {
	c := *s
	c.changes = nil
	if s.Rooms != nil {
		c.Rooms = make([]Room, len(s.Rooms))
		for i, r := range s.Rooms {
			if r.Images != nil {
				r.Images = append(make([]Image, 0, len(r.Images)), r.Images...)
			}
			c.Rooms[i] = r
		}
	}
	c.Checklists = Checklists{House: cloneBytes(s.Checklists.House), Rooms: cloneBytes(s.Checklists.Rooms), Products: cloneBytes(s.Checklists.Products)}
	c.InputsSnapshot.HouseType = cloneString(s.InputsSnapshot.HouseType)
	c.InputsSnapshot.Address = cloneString(s.InputsSnapshot.Address)
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func cloneString(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Changes returns the events raised since the scan was loaded.
func (s *Scan) Changes() []Event { return s.changes }

// ImagesCount counts the images of all rooms.
func (s *Scan) ImagesCount() int { return CountImages(s.Rooms) }

// CountImages counts the images of rooms.
func CountImages(rooms []Room) int {
	n := 0
	for _, r := range rooms {
		n += len(r.Images)
	}
	return n
}

// Apply changes the state by one event. It never fails: events are facts.
func (s *Scan) Apply(e Event) {
	s.Version++
	switch e := e.(type) {
	case Created:
		s.UserID, s.HouseID, s.Address = e.UserID, e.HouseID, e.Address
		s.Status = StatusQueued
	case ImagesUploaded:
		s.Rooms = e.Rooms
		if e.Address != "" {
			s.Address = e.Address
		}
		s.Status = StatusQueued
	case ProcessingStarted:
		s.Attempt, s.Retries, s.Progress = e.Attempt, e.Retry, 0
		s.Checklists, s.InputsSnapshot = e.Checklists, e.InputsSnapshot
		s.Status = StatusRunning
	case ProgressReported:
		s.Progress = e.Progress
	case Completed:
		s.Progress = 100
		s.Status = StatusSucceeded
	case Failed:
		s.Status = StatusFailed
	case Deleted:
		s.Deleted = true
	}
}

func (s *Scan) raise(e Event) {
	s.Apply(e)
	s.changes = append(s.changes, e)
}

// errNotFound is what every command on a missing or deleted scan gets, and what a user
// gets for someone else's scan: existence is not disclosed.
func errNotFound() error { return domain.Errorf(domain.ENOTFOUND, "Scan not found") }

func (s *Scan) exists() error {
	if s.Status == StatusNone || s.Deleted {
		return errNotFound()
	}
	return nil
}

// OwnedBy checks that the scan exists and belongs to userID.
func (s *Scan) OwnedBy(userID string) error {
	if err := s.exists(); err != nil {
		return err
	}
	if s.UserID != userID {
		return errNotFound()
	}
	return nil
}

// Create starts the scan. A scan is created once.
func (s *Scan) Create(userID, houseID string, newHouse bool, address string) error {
	if s.Status != StatusNone || s.Deleted {
		return domain.Errorf(domain.ECONFLICT, "Scan already exists")
	}
	if userID == "" || houseID == "" {
		return domain.Errorf(domain.EINVALID, "user and house are required")
	}
	if err := domain.CheckText("address", address); err != nil {
		return err
	}
	s.raise(Created{ScanID: s.ID, UserID: userID, HouseID: houseID, NewHouse: newHouse, Address: address})
	return nil
}

// AcceptsImages reports whether an upload may replace the scan's photos now: the scan
// exists and is not processing or completed. UploadImages decides with it; an upload
// asks it first, before reading megabytes it would then refuse.
func (s *Scan) AcceptsImages() error {
	if err := s.exists(); err != nil {
		return err
	}
	if s.Status == StatusRunning || s.Status == StatusSucceeded {
		return domain.Errorf(domain.EINVALID, "Cannot upload images to a scan that is already processing or completed")
	}
	return nil
}

// UploadImages replaces the scan's rooms and photos. Allowed while queued or failed.
func (s *Scan) UploadImages(rooms []Room, address string) error {
	if err := s.AcceptsImages(); err != nil {
		return err
	}
	n := CountImages(rooms)
	if n == 0 {
		return domain.Errorf(domain.EINVALID, "No images provided")
	}
	if len(rooms) > MaxRooms {
		return domain.Errorf(domain.ETOOLARGE, "Too many rooms (at most %d)", MaxRooms)
	}
	if n > MaxImagesPerScan {
		return domain.Errorf(domain.ETOOLARGE, "Too many images (at most %d)", MaxImagesPerScan)
	}
	if err := domain.CheckText("address", address); err != nil {
		return err
	}
	for _, r := range rooms {
		if err := domain.CheckText("room label", r.Label); err != nil {
			return err
		}
	}
	s.raise(ImagesUploaded{Rooms: rooms, Address: address})
	return nil
}

// StartProcessing starts a new attempt at userID's request, with the checklists merged
// for them and the house's type as the read model knows it (nil when unknown). Allowed
// for the scan's owner when it has images and is queued or failed. The attempt's inputs
// snapshot (house type, address, rooms and photos counted) is taken here, from the
// state the attempt starts on.
func (s *Scan) StartProcessing(userID string, cl Checklists, houseType *string) error {
	if err := s.OwnedBy(userID); err != nil {
		return err
	}
	switch s.Status {
	case StatusRunning:
		return domain.Errorf(domain.EINVALID, "Scan is already processing")
	case StatusSucceeded:
		return domain.Errorf(domain.EINVALID, "Scan has already been completed")
	}
	if s.ImagesCount() == 0 {
		return domain.Errorf(domain.EINVALID, "No images found for this scan")
	}
	snap := InputsSnapshot{HouseType: houseType, RoomsCount: len(s.Rooms), ImagesCount: s.ImagesCount()}
	if s.Address != "" {
		a := s.Address
		snap.Address = &a
	}
	s.raise(ProcessingStarted{Attempt: s.Attempt + 1, Retry: 0, Checklists: cl, InputsSnapshot: snap})
	return nil
}

// current checks that attempt is the running attempt: results from a dead or
// superseded worker are rejected.
func (s *Scan) current(attempt int) error {
	if err := s.exists(); err != nil {
		return err
	}
	if s.Status != StatusRunning {
		return domain.Errorf(domain.ECONFLICT, "Scan is not processing")
	}
	if attempt != s.Attempt {
		return domain.Errorf(domain.ECONFLICT, "Attempt %d is not the current attempt (%d)", attempt, s.Attempt)
	}
	return nil
}

// ReportProgress records a milestone of the current attempt: 0..100, never decreasing.
func (s *Scan) ReportProgress(attempt, progress int, stage string, etaSeconds *int) error {
	if err := s.current(attempt); err != nil {
		return err
	}
	if progress < 0 || progress > 100 {
		return domain.Errorf(domain.EINVALID, "progress %d is outside 0..100", progress)
	}
	if progress < s.Progress {
		return domain.Errorf(domain.EINVALID, "progress %d is below the last reported %d", progress, s.Progress)
	}
	stage = truncate(domain.CleanText(stage), MaxStageLen)
	if etaSeconds != nil && *etaSeconds < 0 {
		etaSeconds = nil
	}
	s.raise(ProgressReported{Attempt: attempt, Progress: progress, Stage: stage, ETASeconds: etaSeconds})
	return nil
}

// Complete stores the current attempt's result.
func (s *Scan) Complete(c Completed) error {
	if err := s.current(c.Attempt); err != nil {
		return err
	}
	if err := c.CheckText(); err != nil {
		return err
	}
	if c.HouseTypes == nil {
		c.HouseTypes = []string{}
	}
	// Room ids come from the analyzer; keep only this scan's rooms so a confused or
	// hostile service cannot touch another scan's rows.
	known := make(map[string]bool, len(s.Rooms))
	for _, r := range s.Rooms {
		known[r.RoomID] = true
	}
	rooms := make([]RoomTypes, 0, len(c.Rooms))
	for _, r := range c.Rooms {
		if known[r.RoomID] {
			if r.RoomTypes == nil {
				r.RoomTypes = []string{}
			}
			rooms = append(rooms, r)
		}
	}
	c.Rooms = rooms
	if c.AgentRuns == nil {
		c.AgentRuns = []AgentRun{}
	}
	s.raise(c)
	return nil
}

// CheckText returns an EINVALID error when any text of the result, in its fields or
// inside its JSON documents, is not domain.ValidText. The result comes from an
// analyzer, another service, and every read model stores it: PostgreSQL cannot hold
// NUL, and a projection must never meet an event it cannot store.
func (c Completed) CheckText() error {
	texts := append([]string{c.PipelineVersion}, c.HouseTypes...)
	for _, r := range c.Rooms {
		texts = append(texts, r.RoomID)
		texts = append(texts, r.RoomTypes...)
	}
	for _, a := range c.AgentRuns {
		texts = append(texts, a.ID, a.AgentName, a.Model, a.ModelID, a.CostUSD)
	}
	for _, s := range texts {
		if !domain.ValidText(s) {
			return domain.Errorf(domain.EINVALID, "the analysis result has text with control characters or invalid UTF-8: %q", s)
		}
	}
	for _, doc := range []struct {
		name string
		raw  []byte
	}{{"result", c.Result}, {"client summary", c.ClientSummary}, {"pros and cons", c.ProsCons}, {"cost info", c.CostInfo}} {
		if !domain.ValidJSONText(doc.raw) {
			return domain.Errorf(domain.EINVALID, "the analysis result's %s has text with control characters or invalid UTF-8", doc.name)
		}
	}
	return nil
}

// Fail records that the current attempt failed for good.
func (s *Scan) Fail(attempt int, code, reason string, retryable bool) error {
	if err := s.current(attempt); err != nil {
		return err
	}
	code, reason = domain.CleanText(code), truncate(domain.CleanText(reason), MaxReasonLen)
	s.raise(Failed{Attempt: attempt, Code: code, Reason: reason, Retryable: retryable})
	return nil
}

// Retry records that the current attempt failed and starts the next one with the same
// checklists, in one append, so the scan is never seen failed in between.
func (s *Scan) Retry(attempt int, code, reason string) error {
	if err := s.current(attempt); err != nil {
		return err
	}
	cl, snap, retry := s.Checklists, s.InputsSnapshot, s.Retries
	code, reason = domain.CleanText(code), truncate(domain.CleanText(reason), MaxReasonLen)
	s.raise(Failed{Attempt: attempt, Code: code, Reason: reason, Retryable: true, WillRetry: true})
	s.raise(ProcessingStarted{Attempt: attempt + 1, Retry: retry + 1, Checklists: cl, InputsSnapshot: snap})
	return nil
}

// Delete ends the scan. Nothing can happen to it afterwards.
func (s *Scan) Delete() error {
	if err := s.exists(); err != nil {
		return err
	}
	s.raise(Deleted{})
	return nil
}

// truncate returns the longest prefix of s of at most n bytes that does not split a
// UTF-8 character, so a cut text is still valid text in every read model.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
