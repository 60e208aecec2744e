package scan

import (
	"context"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
)

// Snapshot is a scan as it stood right after one of its events: what an auditor
// travelling in time sees.
type Snapshot struct {
	Scan    *Scan
	Version int64     // the last event applied (-1: none)
	At      time.Time // that event's occurredAt
	Type    string    // that event's type
	Result  *Completed
	Failure *Failed // the latest failure, when the scan stands failed
}

// Replay applies recs in order while keep says so, and returns the state reached, its
// personal fields opened with c (personal.Erased when the owner was forgotten). keep
// sees each event with its metadata and stops the replay at the first false.
func Replay(ctx context.Context, c *personal.Cipher, id string, recs []event.Recorded, keep func(r event.Recorded, m event.Metadata) bool) (Snapshot, error) {
	snap := Snapshot{Scan: New(id), Version: -1}
	for _, r := range recs {
		m, err := event.ParseMetadata(r.Metadata)
		if err != nil {
			return Snapshot{}, fmt.Errorf("%s version %d: %w", r.StreamID, r.Version, err)
		}
		if !keep(r, m) {
			break
		}
		e, err := Decode(r)
		if err == nil {
			e, err = Open(ctx, c, e)
		}
		if err != nil {
			return Snapshot{}, err
		}
		snap.Scan.Apply(e)
		snap.Version, snap.At, snap.Type = r.Version, m.OccurredAt, r.Type
		switch e := e.(type) {
		case Completed:
			snap.Result, snap.Failure = &e, nil
		case Failed:
			snap.Failure = &e
		case ProcessingStarted:
			snap.Failure = nil
		}
	}
	return snap, nil
}

// UpToVersion keeps events up to and including version.
func UpToVersion(version int64) func(event.Recorded, event.Metadata) bool {
	return func(r event.Recorded, _ event.Metadata) bool { return r.Version <= version }
}

// UpToTime keeps events that occurred at or before t.
func UpToTime(t time.Time) func(event.Recorded, event.Metadata) bool {
	return func(_ event.Recorded, m event.Metadata) bool { return !m.OccurredAt.After(t) }
}

// Summary is a one-line human description of a scan event, for timelines.
func Summary(r event.Recorded) string {
	e, err := Decode(r)
	if err != nil {
		return "undecodable: " + err.Error()
	}
	switch e := e.(type) {
	case Created:
		return fmt.Sprintf("created for house %s", e.HouseID)
	case ImagesUploaded:
		return fmt.Sprintf("%d photos in %d rooms uploaded", CountImages(e.Rooms), len(e.Rooms))
	case ProcessingStarted:
		if e.Retry > 0 {
			return fmt.Sprintf("attempt %d started (automatic retry %d)", e.Attempt, e.Retry)
		}
		return fmt.Sprintf("attempt %d started", e.Attempt)
	case ProgressReported:
		return fmt.Sprintf("attempt %d at %d%%: %s", e.Attempt, e.Progress, e.Stage)
	case Completed:
		return fmt.Sprintf("attempt %d completed: %d agent runs, house types %v", e.Attempt, len(e.AgentRuns), e.HouseTypes)
	case Failed:
		retry := ""
		if e.WillRetry {
			retry = ", will retry"
		}
		return fmt.Sprintf("attempt %d failed (%s%s): %s", e.Attempt, e.Code, retry, truncate(e.Reason, 80))
	case Deleted:
		return "deleted"
	}
	return r.Type
}
