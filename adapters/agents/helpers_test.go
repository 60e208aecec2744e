package agents_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents"
	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/domain/analysis"
)

// photo is a small real JPEG, large enough for the service's 100-byte minimum.
func photo(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatalf("encode photo: %v", err)
	}
	return b.Bytes()
}

// checklist reads one of the checklists the original agents-service ships.
func checklist(t testing.TB, scope string) json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", scope+"_checklist.json"))
	if err != nil {
		t.Fatalf("read checklist: %v", err)
	}
	return data
}

// scanRequest is a request with the shipped checklists and, per room, the given number
// of photos served by srv.
func scanRequest(t testing.TB, srv *agentstest.Server, photos ...int) analysis.Request {
	t.Helper()
	jpg := photo(t)
	req := analysis.Request{
		ScanID:            "scan-1",
		Attempt:           1,
		HouseChecklist:    checklist(t, "house_type"),
		RoomsChecklist:    checklist(t, "rooms_type"),
		ProductsChecklist: checklist(t, "products_type"),
	}
	for i, n := range photos {
		room := analysis.Room{ID: fmt.Sprintf("room-%d", i+1)}
		for j := range n {
			room.Images = append(room.Images, analysis.Image{
				ID:          fmt.Sprintf("img-%d-%d", i+1, j+1),
				BlobKey:     fmt.Sprintf("scans/scan-1/room-%d/%d.jpg", i+1, j+1),
				ContentType: "image/jpeg",
				URL:         srv.ServeImage("image/jpeg", jpg),
			})
		}
		req.Rooms = append(req.Rooms, room)
	}
	return req
}

// newClient returns a client for srv with waits short enough for tests and progress
// ticks out of the way; tests change its fields to override them.
func newClient(srv *agentstest.Server) *agents.Client {
	c := agents.New(srv.URL)
	c.BackoffBase, c.BackoffMax = time.Millisecond, 5*time.Millisecond
	c.ProgressInterval = time.Hour
	return c
}

// asAnalysisError returns the *analysis.Error in err's chain.
func asAnalysisError(t testing.TB, err error) *analysis.Error {
	t.Helper()
	var ae *analysis.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *analysis.Error", err, err)
	}
	return ae
}

// progressLog records reports; report may be called from the client's goroutine.
type progressLog struct {
	mu   sync.Mutex
	list []analysis.Progress
}

func (l *progressLog) report(p analysis.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, p)
}

func (l *progressLog) all() []analysis.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]analysis.Progress(nil), l.list...)
}

func (l *progressLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.list)
}

// checkRising fails unless every report is within 20..84 and no percentage decreases.
func checkRising(t *testing.T, reports []analysis.Progress) {
	t.Helper()
	for i, p := range reports {
		if p.Percent < 20 || p.Percent >= 85 {
			t.Errorf("report %d: percent %d outside 20..84", i, p.Percent)
		}
		if i > 0 && p.Percent < reports[i-1].Percent {
			t.Errorf("report %d: percent fell from %d to %d", i, reports[i-1].Percent, p.Percent)
		}
		if p.ETA < 0 {
			t.Errorf("report %d: negative ETA %s", i, p.ETA)
		}
	}
}

// manualClock is a Clock that moves only when the test advances it.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2025, 11, 4, 12, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *manualClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Advance moves time on by d and fires every wait that is due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// eventually polls cond for up to 10 s, for things that happen on other goroutines.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// cancelWhen calls cancel once cond holds, or after 10 s so a broken test ends instead
// of hanging. It runs on its own goroutine, where t.Fatal is not allowed.
func cancelWhen(cancel func(), cond func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
}

// withClient returns c after set has changed its fields.
func withClient(c *agents.Client, set func(*agents.Client)) *agents.Client {
	set(c)
	return c
}
