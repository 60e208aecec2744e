package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/scan"
)

// appendPlan is what the load process asks the server to append.
type appendPlan struct {
	Users []string `json:"users"`
	// Rate is user_feed rows (live messages) per second, spread evenly over Users.
	Rate     int           `json:"rate"`
	Duration time.Duration `json:"duration"`
	// Workers run commands concurrently; each user belongs to one worker, so a user's
	// commands stay in order as a real scan's would.
	Workers int `json:"workers"`
	// Progress is how many scan:progress messages each scan reports.
	Progress int `json:"progress"`
}

// appendResult is what was appended.
type appendResult struct {
	Rows       map[string]int64 `json:"rows"` // feed rows per user
	Total      int64            `json:"total"`
	Commands   int64            `json:"commands"`
	Elapsed    time.Duration    `json:"elapsed"`
	Late       int64            `json:"late"` // rows started after their slot: the appender fell behind
	Errors     int64            `json:"errors"`
	FirstError string           `json:"firstError,omitempty"`
	// Latest is each user's last feed sequence once the projection wrote every row
	// (same order as the plan's users).
	Latest []int64 `json:"latest"`
}

// stampPrefix starts the stage of every scan:progress the load appends; the rest is
// the append time in Unix nanoseconds, which the clients subtract from their clock.
const stampPrefix = "t="

// loadUser is one user's place in their scans.
type loadUser struct {
	id      string
	scan    string
	step    int
	attempt int
	rows    int64
}

// appendLoad appends scan commands through h at the plan's rate: each slot is one
// command that produces one live message (a scan's Created goes with its upload).
func appendLoad(ctx context.Context, h *scan.Handler, p appendPlan) (*appendResult, error) {
	if len(p.Users) == 0 || p.Rate <= 0 || p.Duration <= 0 {
		return nil, errors.New("append: users, rate and duration are required")
	}
	if p.Workers <= 0 {
		p.Workers = 16
	}
	if p.Progress <= 0 {
		p.Progress = 20
	}
	users := make([]*loadUser, len(p.Users))
	for i, id := range p.Users {
		users[i] = &loadUser{id: id}
	}
	type worker struct {
		users []*loadUser
		slots chan time.Time // each slot's scheduled time: the latency clock starts there
	}
	workers := make([]*worker, min(p.Workers, len(users)))
	for i := range workers {
		workers[i] = &worker{slots: make(chan time.Time, 64)}
	}
	for i, u := range users {
		w := workers[i%len(workers)]
		w.users = append(w.users, u)
	}

	res := &appendResult{Rows: make(map[string]int64, len(users))}
	var commands, errs atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			next := 0
			for slot := range w.slots {
				u := w.users[next]
				next = (next + 1) % len(w.users)
				n, err := u.advance(ctx, h, p.Progress, slot)
				commands.Add(int64(n))
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { res.FirstError = err.Error() })
				}
			}
		})
	}

	total := int(float64(p.Rate) * p.Duration.Seconds())
	interval := time.Second / time.Duration(p.Rate)
	start := time.Now()
	var late int64
	for i := 0; i < total && ctx.Err() == nil; i++ {
		slot := start.Add(time.Duration(i) * interval)
		if d := time.Until(slot); d > 0 {
			time.Sleep(d)
		}
		w := workers[i%len(workers)]
		select {
		case w.slots <- slot:
		default:
			late++
			w.slots <- slot
		}
	}
	for _, w := range workers {
		close(w.slots)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Late, res.Commands, res.Errors = late, commands.Load(), errs.Load()
	for _, u := range users {
		res.Rows[u.id] = u.rows
		res.Total += u.rows
	}
	return res, ctx.Err()
}

// advance runs the user's next command; it returns how many commands it executed. A
// progress message is stamped with its slot's scheduled time, not the time the command
// runs, so time spent queued behind a late appender counts as latency.
func (u *loadUser) advance(ctx context.Context, h *scan.Handler, progress int, slot time.Time) (int, error) {
	meta := scan.Meta{UserID: u.id}
	exec := func(decide func(*scan.Scan) error) error {
		_, err := h.Execute(ctx, u.scan, meta, decide)
		if err != nil {
			return fmt.Errorf("scan %s step %d: %w", u.scan, u.step, err)
		}
		return nil
	}
	n := 1
	var err error
	switch {
	case u.scan == "":
		u.scan, u.step = domain.NewID(), 0
		if err = exec(func(s *scan.Scan) error { return s.Create(u.id, domain.NewID(), true, "") }); err != nil {
			break
		}
		n++
		rooms := []scan.Room{{RoomID: domain.NewID(), Label: "Room 1", Images: []scan.Image{{
			ImageID: domain.NewID(), BlobKey: "load/" + u.scan, ContentType: "image/jpeg", Bytes: 1,
			SHA256: strings.Repeat("0", 64)}}}}
		err = exec(func(s *scan.Scan) error { return s.UploadImages(rooms, "") })
	case u.step == 1:
		err = exec(func(s *scan.Scan) error { return s.StartProcessing(u.id, scan.Checklists{}, nil) })
		u.attempt = 1
	case u.step < 2+progress:
		pct := (u.step - 1) * 100 / progress
		err = exec(func(s *scan.Scan) error {
			return s.ReportProgress(u.attempt, pct, stampPrefix+strconv.FormatInt(slot.UnixNano(), 10), nil)
		})
	default:
		err = exec(func(s *scan.Scan) error {
			return s.Complete(scan.Completed{Attempt: u.attempt, PipelineVersion: "loadgen", Result: json.RawMessage(`{"ok":true}`)})
		})
		if err == nil {
			u.scan = ""
			u.rows++
			return n, nil
		}
	}
	if err != nil {
		// Start the user over with a new scan rather than repeat a failing step.
		u.scan = ""
		return n, err
	}
	u.step++
	u.rows++
	return n, nil
}
