package postgres_test

import (
	"context"
	"testing"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/domain/audit/audittest"
	"github.com/scanledger/scanledger/domain/event"
)

// tamperer edits the database as its owner could: the immutability trigger is dropped
// first, and the streams table is left as it is (verification never trusts it).
type tamperer struct{ s *postgres.Store }

func (tm tamperer) exec(ctx context.Context, q string, args ...any) error {
	if _, err := tm.s.DB().Pool().Exec(ctx, `DROP TRIGGER IF EXISTS events_immutable ON events`); err != nil {
		return err
	}
	_, err := tm.s.DB().Pool().Exec(ctx, q, args...)
	return err
}

func (tm tamperer) Rewrite(ctx context.Context, stream string, version int64, data, metadata []byte) error {
	return tm.exec(ctx, `UPDATE events SET data = $1, metadata = $2 WHERE stream_id = $3 AND version = $4`, data, metadata, stream, version)
}

func (tm tamperer) Delete(ctx context.Context, stream string, version int64) error {
	return tm.exec(ctx, `DELETE FROM events WHERE stream_id = $1 AND version = $2`, stream, version)
}

func (tm tamperer) DeleteStream(ctx context.Context, stream string) error {
	return tm.exec(ctx, `DELETE FROM events WHERE stream_id = $1`, stream)
}

func (tm tamperer) Swap(ctx context.Context, stream string, v1, v2 int64) error {
	const off = 1 << 30
	if err := tm.exec(ctx, `UPDATE events SET version = version + $1 WHERE stream_id = $2 AND version IN ($3, $4)`, off, stream, v1, v2); err != nil {
		return err
	}
	return tm.exec(ctx, `UPDATE events SET version = CASE version WHEN $1::bigint THEN $2::bigint ELSE $3::bigint END
		WHERE stream_id = $4 AND version IN ($1, $5)`, v1+off, v2, v1, stream, v2+off)
}

func TestTamperingIsCaught(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (event.Store, audittest.Tamperer) {
		s := openStore(t, newDatabase(t, 4))
		return s, tamperer{s}
	})
}

// TestVerifyAllFigure measures `verify --all` over SCANLEDGER_VERIFY_EVENTS events in
// a fresh database (scripts/bench-postgres.sh runs it with 200,000); skipped unless
// set:
//
//	SCANLEDGER_VERIFY_EVENTS=200000 go test -count=1 -timeout 30m -run TestVerifyAllFigure -v ./adapters/postgres/
func TestVerifyAllFigure(t *testing.T) {
	audittest.VerifyAllFigure(t, func(t *testing.T) event.Store {
		return openStore(t, newDatabase(t, 4))
	})
}
