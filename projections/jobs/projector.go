// Package jobs is the worker's queue (scan_jobs): one row per processing attempt, made
// pending by ProcessingStarted and settled by the attempt's Completed or Failed, or by
// Deleted. Workers claim pending jobs with leases (Claim, Extend, Release), so several
// workers can share the queue and a crashed worker's job is taken over when its lease
// expires.
package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
)

// Name is the projection's checkpoint key.
const Name = "jobs"

// Job states.
const (
	Pending   = "pending"
	Done      = "done"
	Cancelled = "cancelled"
)

// Projector projects scan events into scan_jobs. It writes state and updated_at only;
// the lease columns and claims belong to workers.
type Projector struct {
	seg *segment
}

// NewProjector returns a jobs projector.
func NewProjector() *Projector { return &Projector{seg: newSegment()} }

// Name is Name.
func (p *Projector) Name() string { return Name }

// Begin drops whatever a rolled-back transaction buffered.
func (p *Projector) Begin() { p.seg = newSegment() }

type key struct {
	scanID  string
	attempt int
}

type newJob struct {
	key
	state     string
	createdAt time.Time
	updatedAt time.Time
}

type settle struct {
	key
	at time.Time
}

type cancel struct {
	scanID string
	at     time.Time
}

// segment folds a transaction's events: jobs started in it are inserted in their final
// state; jobs from earlier transactions are updated.
type segment struct {
	started map[key]*newJob
	order   []*newJob
	done    []settle
	cancels []cancel
}

func newSegment() *segment { return &segment{started: map[key]*newJob{}} }

// Handle folds one event.
func (p *Projector) Handle(ctx context.Context, tx *projections.Tx, e event.Recorded) error {
	switch e.Type {
	case scan.TypeProcessingStarted, scan.TypeCompleted, scan.TypeFailed, scan.TypeDeleted:
	default:
		return nil // decoding what the queue ignores would only cost time
	}
	se, ok, err := projections.DecodeScanEvent(e)
	if !ok || err != nil {
		return err
	}
	scanID, ev, at := se.ScanID, se.Event, se.At
	g := p.seg
	switch v := ev.(type) {
	case scan.ProcessingStarted:
		k := key{scanID, v.Attempt}
		if _, ok := g.started[k]; !ok {
			j := &newJob{key: k, state: Pending, createdAt: at, updatedAt: at}
			g.started[k] = j
			g.order = append(g.order, j)
		}
	case scan.Completed:
		g.settle(key{scanID, v.Attempt}, at)
	case scan.Failed:
		g.settle(key{scanID, v.Attempt}, at)
	case scan.Deleted:
		for _, j := range g.order {
			if j.scanID == scanID && j.state == Pending {
				j.state, j.updatedAt = Cancelled, at
			}
		}
		g.cancels = append(g.cancels, cancel{scanID, at})
	}
	return nil
}

func (g *segment) settle(k key, at time.Time) {
	if j, ok := g.started[k]; ok {
		if j.state == Pending {
			j.state, j.updatedAt = Done, at
		}
		return
	}
	g.done = append(g.done, settle{k, at})
}

// Flush writes the segment.
func (p *Projector) Flush(ctx context.Context, tx *projections.Tx) error {
	g := p.seg
	d := tx.Dialect()
	rows := make([][]any, 0, len(g.order))
	for _, j := range g.order {
		rows = append(rows, []any{j.scanID, j.attempt, j.state, d.Time(j.createdAt), d.Time(j.updatedAt)})
	}
	if err := tx.ExecValues(ctx, `INSERT INTO scan_jobs (scan_id, attempt, state, created_at, updated_at)`,
		`ON CONFLICT (scan_id, attempt) DO NOTHING`, rows); err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	// A job settles once: later results for it find it no longer pending, so the
	// first one per job is the one that counts (and one row per job keeps the
	// multi-row update well defined).
	done := make([][]any, 0, len(g.done))
	seen := map[key]bool{}
	for _, s := range g.done {
		if !seen[s.key] {
			seen[s.key] = true
			done = append(done, []any{s.scanID, s.attempt, d.Time(s.at)})
		}
	}
	if _, err := tx.UpdateValues(ctx, `UPDATE scan_jobs SET state = 'done', updated_at = v.column3 FROM (`,
		`) AS v WHERE scan_jobs.scan_id = v.column1 AND scan_jobs.attempt = v.column2 AND scan_jobs.state = 'pending'`,
		[]string{"uuid", "integer", "timestamp(3)"}, done); err != nil {
		return fmt.Errorf("settle jobs: %w", err)
	}
	cancels := make([][]any, 0, len(g.cancels))
	gone := map[string]bool{}
	for _, c := range g.cancels {
		if !gone[c.scanID] {
			gone[c.scanID] = true
			cancels = append(cancels, []any{c.scanID, d.Time(c.at)})
		}
	}
	if _, err := tx.UpdateValues(ctx, `UPDATE scan_jobs SET state = 'cancelled', updated_at = v.column2 FROM (`,
		`) AS v WHERE scan_jobs.scan_id = v.column1 AND scan_jobs.state = 'pending'`,
		[]string{"uuid", "timestamp(3)"}, cancels); err != nil {
		return fmt.Errorf("cancel jobs: %w", err)
	}
	return nil
}
