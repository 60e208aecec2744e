package relay

import (
	"context"

	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
)

// TableFeed is the Feed kept in the user_feed read model (projections/feed), on any
// read-model database.
type TableFeed struct{ DB projections.DB }

// Tail implements Feed.
func (f TableFeed) Tail(ctx context.Context, afterID int64, limit int) ([]Item, error) {
	return feed.Tail(ctx, f.DB, afterID, limit)
}

// LastID implements Feed.
func (f TableFeed) LastID(ctx context.Context) (int64, error) { return feed.LastID(ctx, f.DB) }

// ReadUser implements Feed.
func (f TableFeed) ReadUser(ctx context.Context, userID string, afterSeq int64, limit int) ([]Item, error) {
	return feed.ReadUser(ctx, f.DB, userID, afterSeq, limit)
}

// Bounds implements Feed. It reads the latest sequence first: the other way round, a
// prune or a user's first row landing between the two reads could show oldest=0 with
// latest>0, a false resync.
func (f TableFeed) Bounds(ctx context.Context, userID string) (int64, int64, error) {
	latest, err := feed.LatestSeq(ctx, f.DB, userID)
	if err != nil {
		return 0, 0, err
	}
	oldest, err := feed.OldestSeq(ctx, f.DB, userID)
	return oldest, latest, err
}
