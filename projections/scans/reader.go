package scans

import (
	"context"

	"github.com/scanledger/scanledger/projections"
)

// Reader is the queries a request handler asks of the scans read model, bound to its
// database, under the names they have here, so that a consumer declaring them as an
// interface (httpapi.Reader) takes a Reader as it is.
type Reader struct{ DB projections.DB }

// Get is Get on r's database.
func (r Reader) Get(ctx context.Context, scanID string) (*Scan, error) { return Get(ctx, r.DB, scanID) }

// ListByUser is ListByUser on r's database.
func (r Reader) ListByUser(ctx context.Context, userID string) ([]Scan, error) {
	return ListByUser(ctx, r.DB, userID)
}

// HouseOwner is HouseOwner on r's database.
func (r Reader) HouseOwner(ctx context.Context, houseID string) (string, error) {
	return HouseOwner(ctx, r.DB, houseID)
}

// HouseType is HouseType on r's database.
func (r Reader) HouseType(ctx context.Context, houseID string) (*string, error) {
	return HouseType(ctx, r.DB, houseID)
}

// CountOtherScans is CountOtherScans on r's database.
func (r Reader) CountOtherScans(ctx context.Context, houseID, exceptScanID string) (int, error) {
	return CountOtherScans(ctx, r.DB, houseID, exceptScanID)
}
