package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain/audit/audittest"
	"github.com/scanledger/scanledger/domain/event"
)

// tamperer edits the SQLite file as someone with the file in hand would: the
// immutability triggers are dropped first.
type tamperer struct{ db *sqlite.DB }

func (tm tamperer) exec(ctx context.Context, q string, args ...any) error {
	if _, err := tm.db.Write.ExecContext(ctx, `DROP TRIGGER IF EXISTS events_no_update`); err != nil {
		return err
	}
	if _, err := tm.db.Write.ExecContext(ctx, `DROP TRIGGER IF EXISTS events_no_delete`); err != nil {
		return err
	}
	_, err := tm.db.Write.ExecContext(ctx, q, args...)
	return err
}

func (tm tamperer) Rewrite(ctx context.Context, stream string, version int64, data, metadata []byte) error {
	return tm.exec(ctx, `UPDATE events SET data = ?, metadata = ? WHERE stream_id = ? AND version = ?`, data, metadata, stream, version)
}

func (tm tamperer) Delete(ctx context.Context, stream string, version int64) error {
	return tm.exec(ctx, `DELETE FROM events WHERE stream_id = ? AND version = ?`, stream, version)
}

func (tm tamperer) DeleteStream(ctx context.Context, stream string) error {
	return tm.exec(ctx, `DELETE FROM events WHERE stream_id = ?`, stream)
}

func (tm tamperer) Swap(ctx context.Context, stream string, v1, v2 int64) error {
	const off = 1 << 30 // versions are unique per stream at every row, so move out of the way first
	if err := tm.exec(ctx, `UPDATE events SET version = version + ? WHERE stream_id = ? AND version IN (?, ?)`, off, stream, v1, v2); err != nil {
		return err
	}
	return tm.exec(ctx, `UPDATE events SET version = CASE version WHEN ? THEN ? ELSE ? END
		WHERE stream_id = ? AND version IN (?, ?)`, v1+off, v2, v1, stream, v1+off, v2+off)
}

func TestTamperingIsCaught(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (event.Store, audittest.Tamperer) {
		db := openDB(t)
		return pollEvery(sqlite.NewStore(db), time.Hour), tamperer{db}
	})
}
