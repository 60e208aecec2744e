package main

import (
	"context"

	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/analytics"
)

// analyticsModel serves httpapi.Analytics from projections/analytics.
type analyticsModel struct{ db projections.DB }

func (m analyticsModel) Outcomes(ctx context.Context, f analytics.Filter) ([]analytics.Outcome, error) {
	return analytics.Outcomes(ctx, m.db, f)
}
func (m analyticsModel) Costs(ctx context.Context, f analytics.Filter, by string) ([]analytics.Cost, error) {
	return analytics.Costs(ctx, m.db, f, by)
}
func (m analyticsModel) Durations(ctx context.Context, f analytics.Filter) ([]analytics.Duration, error) {
	return analytics.Durations(ctx, m.db, f)
}
func (m analyticsModel) Failures(ctx context.Context, f analytics.Filter) ([]analytics.Failure, error) {
	return analytics.Failures(ctx, m.db, f)
}
func (m analyticsModel) ChecklistItems(ctx context.Context, f analytics.Filter) ([]analytics.ItemRate, error) {
	return analytics.ChecklistItems(ctx, m.db, f)
}
