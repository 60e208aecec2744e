package feed

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/projections"
)

// Entry is one message of a user's feed.
type Entry struct {
	// ID orders all users' messages: the projector is the only writer and commits in
	// order, so a reader that remembers the last ID it saw never misses one.
	ID     int64
	UserID string
	// Seq numbers the user's messages from 1 without gaps; it is the id clients
	// resume from (SSE Last-Event-ID, Socket.IO offset).
	Seq       int64
	ScanID    string
	Event     string          // wire event name, e.g. "scan:progress"
	Payload   json.RawMessage // wire payload
	CreatedAt time.Time       // when the event occurred
}

const entryColumns = `id, user_id, seq, scan_id, event, payload, created_at`

// ReadUser returns up to limit of a user's messages with seq > afterSeq, in seq order.
func ReadUser(ctx context.Context, db projections.DB, userID string, afterSeq int64, limit int) ([]Entry, error) {
	if !domain.ValidID(userID) {
		return []Entry{}, nil
	}
	out, err := entries(ctx, db, `SELECT `+entryColumns+` FROM user_feed WHERE user_id = $1 AND seq > $2
		ORDER BY seq LIMIT $3`, userID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read feed of user %s: %w", userID, err)
	}
	return out, nil
}

// Tail returns up to limit messages of every user with id > afterID, in id order: what
// the relay hub fans out after each commit.
func Tail(ctx context.Context, db projections.DB, afterID int64, limit int) ([]Entry, error) {
	out, err := entries(ctx, db, `SELECT `+entryColumns+` FROM user_feed WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("tail feed: %w", err)
	}
	return out, nil
}

// LastID returns the highest message id, 0 when the feed is empty: where a relay that
// starts now begins tailing.
func LastID(ctx context.Context, db projections.DB) (int64, error) {
	var id sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(id) FROM user_feed`).Scan(&id); err != nil {
		return 0, fmt.Errorf("feed last id: %w", err)
	}
	return id.Int64, nil
}

// OldestSeq returns the user's oldest seq still kept, 0 when none is. A client that
// resumes after a seq below OldestSeq-1 missed pruned messages and must resync.
func OldestSeq(ctx context.Context, db projections.DB, userID string) (int64, error) {
	if !domain.ValidID(userID) {
		return 0, nil
	}
	var seq sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT min(seq) FROM user_feed WHERE user_id = $1`, userID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("oldest seq of user %s: %w", userID, err)
	}
	return seq.Int64, nil
}

// LatestSeq returns the last seq handed to the user, 0 when none was. It survives
// pruning: a user's seqs never restart.
func LatestSeq(ctx context.Context, db projections.DB, userID string) (int64, error) {
	if !domain.ValidID(userID) {
		return 0, nil
	}
	var seq int64
	err := db.QueryRowContext(ctx, `SELECT last_seq FROM user_feed_cursors WHERE user_id = $1`, userID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("latest seq of user %s: %w", userID, err)
	}
	return seq, nil
}

// pruneChunk bounds each delete, so that on SQLite the projector's transactions can run
// between chunks instead of waiting for one long delete.
const pruneChunk = 5000

// Prune deletes messages created before olderThan and returns how many it deleted. A
// janitor calls it outside any projection transaction.
func Prune(ctx context.Context, db projections.DB, olderThan time.Time) (int64, error) {
	var total int64
	for {
		res, err := db.ExecContext(ctx, `DELETE FROM user_feed WHERE id IN
			(SELECT id FROM user_feed WHERE created_at < $1 ORDER BY id LIMIT $2)`, db.Dialect.Time(olderThan), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("prune feed: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune feed: %w", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

func entries(ctx context.Context, db projections.DB, query string, args ...any) ([]Entry, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.UserID, &e.Seq, &e.ScanID, &e.Event, projections.ScanJSON(&e.Payload),
			projections.ScanTime(&e.CreatedAt)); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
