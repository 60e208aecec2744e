package main

import (
	"context"
	"time"

	"github.com/scanledger/scanledger/domain/worker"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/jobs"
)

// The small types below fit the read-model packages to the interfaces their consumers
// declare (consumer-side interfaces): no logic, only translation.

// jobQueue serves worker.Jobs from projections/jobs.
type jobQueue struct{ db projections.DB }

func (q jobQueue) Claim(ctx context.Context, owner string, lease time.Duration, now time.Time) (*worker.Job, error) {
	j, err := jobs.Claim(ctx, q.db, owner, lease, now)
	if err != nil || j == nil {
		return nil, err
	}
	return &worker.Job{ScanID: j.ScanID, Attempt: j.Attempt, Claims: j.Claims}, nil
}
func (q jobQueue) Extend(ctx context.Context, j worker.Job, owner string, lease time.Duration, now time.Time) error {
	return jobs.Extend(ctx, q.db, &jobs.Job{ScanID: j.ScanID, Attempt: j.Attempt}, owner, lease, now)
}
func (q jobQueue) Release(ctx context.Context, j worker.Job, owner string) error {
	return jobs.Release(ctx, q.db, &jobs.Job{ScanID: j.ScanID, Attempt: j.Attempt}, owner, time.Now())
}
func (q jobQueue) HandBack(ctx context.Context, j worker.Job, owner string) error {
	return jobs.HandBack(ctx, q.db, &jobs.Job{ScanID: j.ScanID, Attempt: j.Attempt}, owner, time.Now())
}
func (q jobQueue) Expire(ctx context.Context, owner string, now time.Time) (int, error) {
	return jobs.Expire(ctx, q.db, owner, now)
}
