package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/projections"
)

// ErrLeaseLost is returned (wrapped) by Extend and Release when the caller no longer
// holds the job's lease: it expired, another worker claimed the job, or the job is no
// longer pending (its scan was deleted). A worker that gets it must stop working on the
// job.
var ErrLeaseLost = &domain.Error{Code: domain.ECONFLICT, Message: "job lease lost"}

// Job is one processing attempt of a scan.
type Job struct {
	ScanID         string
	Attempt        int
	State          string // Pending, Done, Cancelled
	LeaseOwner     string // "" when nobody holds a lease
	LeaseExpiresAt time.Time
	// Claims counts how many times workers claimed the job; a job claimed again and
	// again crashes its workers, and the worker gives up on it past a bound.
	Claims    int
	CreatedAt time.Time
	UpdatedAt time.Time
}

const jobColumns = `scan_id, attempt, state, lease_owner, lease_expires_at, claims, created_at, updated_at`

func scanJob(row interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	var owner sql.NullString
	var expires *time.Time
	if err := row.Scan(&j.ScanID, &j.Attempt, &j.State, &owner, projections.ScanNullTime(&expires), &j.Claims,
		projections.ScanTime(&j.CreatedAt), projections.ScanTime(&j.UpdatedAt)); err != nil {
		return nil, err
	}
	j.LeaseOwner = owner.String
	if expires != nil {
		j.LeaseExpiresAt = *expires
	}
	return &j, nil
}

// Claim takes the oldest pending job whose lease is free or expired at now: it becomes
// owner's until now+lease, and its Claims count goes up by one. It returns nil and no
// error when no job is available. Concurrent claimers never get the same job: on
// Postgres the pick skips rows another claimer has locked, and SQLite runs one writer at
// a time.
func Claim(ctx context.Context, db projections.DB, owner string, lease time.Duration, now time.Time) (*Job, error) {
	d := db.Dialect
	q := `WITH next AS (
			SELECT scan_id, attempt FROM scan_jobs
			WHERE state = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
			ORDER BY created_at, scan_id, attempt
			LIMIT 1 ` + d.SkipLocked() + `)
		UPDATE scan_jobs SET lease_owner = $2, lease_expires_at = $3, claims = claims + 1, updated_at = $1
		WHERE (scan_id, attempt) IN (SELECT scan_id, attempt FROM next)
		RETURNING ` + jobColumns
	j, err := scanJob(db.QueryRowContext(ctx, q, d.Time(now), owner, d.Time(now.Add(lease))))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return j, nil
}

// Extend renews owner's lease on job until now+lease and updates job. It returns
// ErrLeaseLost when owner's lease is no longer live at now.
func Extend(ctx context.Context, db projections.DB, job *Job, owner string, lease time.Duration, now time.Time) error {
	d := db.Dialect
	until := now.Add(lease)
	res, err := db.ExecContext(ctx, `UPDATE scan_jobs SET lease_expires_at = $1, updated_at = $2
		WHERE scan_id = $3 AND attempt = $4 AND lease_owner = $5 AND state = 'pending' AND lease_expires_at > $2`,
		d.Time(until), d.Time(now), job.ScanID, job.Attempt, owner)
	if err := lost(res, err); err != nil {
		return fmt.Errorf("extend lease on %s/%d: %w", job.ScanID, job.Attempt, err)
	}
	job.LeaseExpiresAt = until.UTC().Truncate(time.Millisecond)
	return nil
}

// Release gives owner's lease on job up, so another worker can claim the job at once
// if it is still pending (a worker shutting down). It returns ErrLeaseLost when
// another worker holds the lease by now.
func Release(ctx context.Context, db projections.DB, job *Job, owner string, now time.Time) error {
	res, err := db.ExecContext(ctx, `UPDATE scan_jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
		WHERE scan_id = $2 AND attempt = $3 AND lease_owner = $4`, db.Dialect.Time(now), job.ScanID, job.Attempt, owner)
	if err := lost(res, err); err != nil {
		return fmt.Errorf("release lease on %s/%d: %w", job.ScanID, job.Attempt, err)
	}
	job.LeaseOwner, job.LeaseExpiresAt = "", time.Time{}
	return nil
}

// HandBack gives owner's lease on job up and takes its claim back, as if owner had
// never claimed it: for a job owner leaves without having stored anything of it (a
// worker shutting down before its analysis answered), so that the next claimer starts
// the attempt afresh rather than taking over an abandoned one. It returns ErrLeaseLost
// when owner no longer holds the lease.
func HandBack(ctx context.Context, db projections.DB, job *Job, owner string, now time.Time) error {
	res, err := db.ExecContext(ctx, `UPDATE scan_jobs
		SET lease_owner = NULL, lease_expires_at = NULL, claims = claims - 1, updated_at = $1
		WHERE scan_id = $2 AND attempt = $3 AND lease_owner = $4 AND claims > 0`,
		db.Dialect.Time(now), job.ScanID, job.Attempt, owner)
	if err := lost(res, err); err != nil {
		return fmt.Errorf("hand back %s/%d: %w", job.ScanID, job.Attempt, err)
	}
	job.LeaseOwner, job.LeaseExpiresAt = "", time.Time{}
	job.Claims--
	return nil
}

// Expire ends, as of now, every live lease owner holds on a pending job, so that any
// worker may claim those jobs at once; it returns how many it ended. A worker calls it
// when it starts under the owner id of a previous life that crashed: those leases
// would otherwise hold their jobs until they ran out. The claims stay counted, so the
// next claimer knows the attempt was abandoned.
func Expire(ctx context.Context, db projections.DB, owner string, now time.Time) (int, error) {
	d := db.Dialect
	res, err := db.ExecContext(ctx, `UPDATE scan_jobs SET lease_expires_at = $1, updated_at = $1
		WHERE lease_owner = $2 AND state = 'pending' AND lease_expires_at > $1`, d.Time(now), owner)
	if err != nil {
		return 0, fmt.Errorf("expire leases of %s: %w", owner, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("expire leases of %s: %w", owner, err)
	}
	return int(n), nil
}

func lost(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Get returns a job, or a domain.ENOTFOUND error.
func Get(ctx context.Context, db projections.DB, scanID string, attempt int) (*Job, error) {
	if !domain.ValidID(scanID) {
		return nil, domain.Errorf(domain.ENOTFOUND, "Job not found")
	}
	j, err := scanJob(db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM scan_jobs WHERE scan_id = $1 AND attempt = $2`,
		scanID, attempt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "Job not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get job %s/%d: %w", scanID, attempt, err)
	}
	return j, nil
}
