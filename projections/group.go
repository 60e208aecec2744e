package projections

import (
	"context"

	"github.com/scanledger/scanledger/domain/event"
)

// Group applies several projections in the same transaction under one checkpoint.
// scanledger groups the scans read model with the user feed: a browser that hears
// scan:completed and then asks GET /scans/:id must find the scan completed, which two
// separately committed projections could not promise.
type Group struct {
	name  string
	parts []Projection
}

// NewGroup returns a projection named name made of parts, applied in order.
func NewGroup(name string, parts ...Projection) *Group { return &Group{name: name, parts: parts} }

// Name is the group's checkpoint key.
func (g *Group) Name() string { return g.name }

// Handle applies e to every part.
func (g *Group) Handle(ctx context.Context, tx *Tx, e event.Recorded) error {
	for _, p := range g.parts {
		if err := p.Handle(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

// Begin resets every buffering part.
func (g *Group) Begin() {
	for _, p := range g.parts {
		if b, ok := p.(Batcher); ok {
			b.Begin()
		}
	}
}

// Flush writes every buffering part's writes, in order.
func (g *Group) Flush(ctx context.Context, tx *Tx) error {
	for _, p := range g.parts {
		if b, ok := p.(Batcher); ok {
			if err := b.Flush(ctx, tx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Prepare prepares e for every part that prepares (nil for the others), so that a group
// is prepared ahead while catching up as its parts would be alone.
func (g *Group) Prepare(e event.Recorded) any {
	prepared := make([]any, len(g.parts))
	for i, p := range g.parts {
		if pp, ok := p.(Preparer); ok {
			prepared[i] = pp.Prepare(e)
		}
	}
	return prepared
}

// HandlePrepared applies e to every part, handing each preparing part what its Prepare
// returned.
func (g *Group) HandlePrepared(ctx context.Context, tx *Tx, e event.Recorded, prepared any) error {
	each, _ := prepared.([]any)
	for i, p := range g.parts {
		var err error
		if pp, ok := p.(Preparer); ok && i < len(each) {
			err = pp.HandlePrepared(ctx, tx, e, each[i])
		} else {
			err = p.Handle(ctx, tx, e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
