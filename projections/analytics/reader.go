package analytics

import (
	"context"

	"github.com/scanledger/scanledger/projections"
)

// Reader is the summaries' queries bound to their database, under the names they have
// here, so that a consumer declaring them as an interface (httpapi.Analytics) takes a
// Reader as it is.
type Reader struct{ DB projections.DB }

// Outcomes is Outcomes on r's database.
func (r Reader) Outcomes(ctx context.Context, f Filter) ([]Outcome, error) {
	return Outcomes(ctx, r.DB, f)
}

// Costs is Costs on r's database.
func (r Reader) Costs(ctx context.Context, f Filter, by string) ([]Cost, error) {
	return Costs(ctx, r.DB, f, by)
}

// Durations is Durations on r's database.
func (r Reader) Durations(ctx context.Context, f Filter) ([]Duration, error) {
	return Durations(ctx, r.DB, f)
}

// Failures is Failures on r's database.
func (r Reader) Failures(ctx context.Context, f Filter) ([]Failure, error) {
	return Failures(ctx, r.DB, f)
}

// ChecklistItems is ChecklistItems on r's database.
func (r Reader) ChecklistItems(ctx context.Context, f Filter) ([]ItemRate, error) {
	return ChecklistItems(ctx, r.DB, f)
}
