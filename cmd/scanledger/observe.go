package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/adapters/metrics"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/projections"
)

// readModelGroup is the projection group of the scans read model and the user feed.
const readModelGroup = "readmodel"

// lagCountBound is the most unapplied events a scrape counts per projection: counting
// means reading them, and beyond a thousand the figure only needs to say "far behind".
const lagCountBound = 1000

// projectionStates reads each projection's checkpoint (and, withParked, its parked
// events) from the read model and the events after the checkpoint from the event store
// (at most count of them), and adds this process's runner figures.
func (a *App) projectionStates(ctx context.Context, count int, withParked bool) ([]metrics.Projection, error) {
	perProjection := map[string]int{}
	if withParked { // readiness does not look at them: a probe need not read every parked row
		parked, err := projections.ListParked(ctx, a.read, "")
		if err != nil {
			return nil, err
		}
		for _, p := range parked {
			perProjection[p.Projection]++
		}
	}
	local := map[string]projections.Stats{}
	for _, r := range a.runners {
		local[r.Name()] = r.Stats()
	}
	now := time.Now()
	// Every projection the service keeps (projectionKinds), whether or not this process
	// runs it: an instance without the projector role still reports their lag, read
	// from the shared read model.
	kinds := projectionKinds()
	out := make([]metrics.Projection, 0, len(kinds))
	for _, k := range kinds {
		name := k.name
		pos, _, err := projections.Checkpoint(ctx, a.read, name)
		if err != nil {
			return out, err
		}
		behind, err := a.store.ReadAll(ctx, pos, count)
		if err != nil {
			return out, fmt.Errorf("read events after %s's checkpoint: %w", name, err)
		}
		p := metrics.Projection{Name: name, LagEvents: len(behind), Parked: perProjection[name]}
		if len(behind) > 0 {
			p.LagSeconds = max(0, now.Sub(behind[0].RecordedAt).Seconds())
		}
		if s, ok := local[name]; ok {
			p.Local, p.Running, p.Applied = true, s.Running, s.Applied
		}
		out = append(out, p)
	}
	return out, nil
}

// startGrace is how long after start a projection this process runs may still be
// starting: /readyz does not count it as stopped before then.
const startGrace = 5 * time.Second

// ready is GET /readyz: the event store, the read model and the photo store answer, no
// projection this process runs is stopped, and none lags more than ready-max-lag.
func (a *App) ready(ctx context.Context) error {
	switch {
	case a.eng.ready != nil:
		if err := a.eng.ready(ctx); err != nil {
			return fmt.Errorf("event store: %w", err)
		}
	case a.eng.pgES != nil:
		if err := a.eng.pgES.SQL().PingContext(ctx); err != nil {
			return fmt.Errorf("event store: %w", err)
		}
	}
	if err := a.read.PingContext(ctx); err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	// Listing a prefix nothing is stored under asks the store to answer without
	// reading any photo.
	if err := a.blobs.List(ctx, "readyz/", func(blob.Entry) error { return nil }); err != nil {
		return fmt.Errorf("photo store: %w", err)
	}
	maxLag := a.cfg.ReadyMaxLag
	states, err := a.projectionStates(ctx, 1, false)
	if err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	var errs []error
	for _, p := range states {
		if p.Local && !p.Running && time.Since(a.started) > startGrace {
			errs = append(errs, fmt.Errorf("projection %s is stopped", p.Name))
		}
		if lag := time.Duration(p.LagSeconds * float64(time.Second)); maxLag > 0 && lag > maxLag {
			errs = append(errs, fmt.Errorf("projection %s lags %s (more than %s)", p.Name, lag.Round(time.Second), maxLag))
		}
	}
	return errors.Join(errs...)
}
