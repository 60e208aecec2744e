package scan_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/event/eventtest"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/personal/personaltest"
	"github.com/scanledger/scanledger/domain/scan"
)

// memStore is an in-memory event.Store, enough to test the handler alone. failNext
// makes the next append commit but report an error, like a connection lost after COMMIT.
type memStore struct {
	eventtest.Memory
	failNext atomic.Bool
}

func (m *memStore) Append(ctx context.Context, stream string, expected int64, evs []event.Data) (event.AppendResult, error) {
	res, err := m.Memory.Append(ctx, stream, expected, evs)
	if err == nil && m.failNext.CompareAndSwap(true, false) {
		return event.AppendResult{}, errors.New("connection reset after commit")
	}
	return res, err
}

// keys is shared by every handler of a test file, as one key store serves every
// instance of the service.
var keys = personaltest.NewMemory()

func newHandler(st event.Store) *scan.Handler {
	h := scan.NewHandler(st)
	h.Cipher = &personal.Cipher{Keys: keys}
	h.Now = func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }
	return h
}

func createAndUpload(t *testing.T, h *scan.Handler) {
	t.Helper()
	ctx := context.Background()
	if _, err := h.Execute(ctx, "s1", scan.Meta{UserID: "u1"}, func(s *scan.Scan) error { return s.Create("u1", "h1", true, "") }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Execute(ctx, "s1", scan.Meta{UserID: "u1"}, func(s *scan.Scan) error { return s.UploadImages([]scan.Room{room0}, "") }); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerAppendsWithAVerifiableChain(t *testing.T) {
	st := &memStore{}
	h := newHandler(st)
	createAndUpload(t, h)
	recs, err := h.History(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("history has %d events, want 2", len(recs))
	}
	if err := event.Verify(scan.StreamName("s1"), recs); err != nil {
		t.Fatalf("chain: %v", err)
	}
	m, _ := event.ParseMetadata(recs[0].Metadata)
	if m.UserID != "u1" || m.EventID != recs[0].ID || m.SchemaVersion != scan.SchemaVersion(scan.TypeCreated) || m.OccurredAt.IsZero() {
		t.Fatalf("metadata not filled: %+v", m)
	}

	// Tampering with stored data breaks the chain at that event.
	st.All[1].Data = []byte(`{"rooms":[]}`)
	var ve *event.VerifyError
	if err := event.Verify(scan.StreamName("s1"), st.All); !errors.As(err, &ve) || ve.Version != 1 {
		t.Fatalf("tampering not detected: %v", err)
	}
}

func TestHandlerRejectionAppendsNothing(t *testing.T) {
	st := &memStore{}
	h := newHandler(st)
	_, err := h.Execute(context.Background(), "nope", scan.Meta{}, func(s *scan.Scan) error { return s.Delete() })
	if domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("got %v, want not found", err)
	}
	if len(st.All) != 0 {
		t.Fatalf("appended %d events", len(st.All))
	}
}

func TestHandlerRetriesOnConflictAndDecidesAgain(t *testing.T) {
	st := &memStore{}
	h := newHandler(st)
	createAndUpload(t, h)
	ctx := context.Background()
	// A concurrent writer slips in between our load and append, once.
	calls := 0
	res, err := h.Execute(ctx, "s1", scan.Meta{}, func(s *scan.Scan) error {
		calls++
		if calls == 1 {
			other := newHandler(st)
			if _, err := other.Execute(ctx, "s1", scan.Meta{}, func(s *scan.Scan) error { return s.UploadImages([]scan.Room{room0}, "2 Side St") }); err != nil {
				t.Fatal(err)
			}
		}
		return s.StartProcessing("u1", scan.Checklists{}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || res.Scan.Attempt != 1 || res.Scan.Address != "2 Side St" {
		t.Fatalf("calls=%d attempt=%d address=%q", calls, res.Scan.Attempt, res.Scan.Address)
	}
}

func TestHandlerTwoConcurrentProcessCallsStartOneAttempt(t *testing.T) {
	st := &memStore{}
	h := newHandler(st)
	createAndUpload(t, h)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = newHandler(st).Execute(context.Background(), "s1", scan.Meta{}, func(s *scan.Scan) error {
				return s.StartProcessing("u1", scan.Checklists{}, nil)
			})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if domain.ErrorMessage(err) != "Scan is already processing" {
			t.Fatalf("unexpected error %v", err)
		}
	}
	s, _ := h.Load(context.Background(), "s1")
	if ok != 1 || s.Attempt != 1 {
		t.Fatalf("%d calls succeeded, attempt %d; want exactly one attempt", ok, s.Attempt)
	}
}

func TestHandlerRetryAfterLostAnswerFindsItsOwnEvents(t *testing.T) {
	st := &memStore{}
	h := newHandler(st)
	createAndUpload(t, h)
	st.failNext.Store(true) // the append commits but the answer is lost
	calls := 0
	res, err := h.Execute(context.Background(), "s1", scan.Meta{}, func(s *scan.Scan) error {
		calls++
		return s.StartProcessing("u1", scan.Checklists{}, nil)
	})
	if err != nil {
		t.Fatalf("the retry must find the committed events and succeed: %v", err)
	}
	if calls != 1 || res.Scan.Attempt != 1 || len(st.All) != 3 {
		t.Fatalf("decided %d times, attempt %d, %d events; want once, 1, 3", calls, res.Scan.Attempt, len(st.All))
	}
}

func TestLoadAtReturnsThePastState(t *testing.T) {
	st := &memStore{}
	h := newHandler(st)
	createAndUpload(t, h)
	s, err := h.LoadAt(context.Background(), "s1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != scan.StatusQueued || len(s.Rooms) != 0 || s.Version != 0 {
		t.Fatalf("state at version 0: %+v", s)
	}
}
