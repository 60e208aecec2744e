package scans

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/projections"
)

// HouseOwner returns the user a house belongs to, or a domain.ENOTFOUND error.
func HouseOwner(ctx context.Context, db projections.DB, houseID string) (string, error) {
	h, err := house(ctx, db, houseID)
	if err != nil {
		return "", err
	}
	return h.UserID, nil
}

// HouseType returns a house's detected type (nil until an analysis found one).
func HouseType(ctx context.Context, db projections.DB, houseID string) (*string, error) {
	h, err := house(ctx, db, houseID)
	if err != nil {
		return nil, err
	}
	return h.HouseType, nil
}

func house(ctx context.Context, db projections.DB, houseID string) (House, error) {
	var h House
	if !domain.ValidID(houseID) {
		return h, domain.Errorf(domain.ENOTFOUND, "House not found")
	}
	var addr, typ sql.NullString
	err := db.QueryRowContext(ctx, `SELECT id, user_id, address, house_type, status FROM houses WHERE id = $1`, houseID).
		Scan(&h.ID, &h.UserID, &addr, &typ, &h.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return h, domain.Errorf(domain.ENOTFOUND, "House not found")
	}
	if err != nil {
		return h, fmt.Errorf("house %s: %w", houseID, err)
	}
	if addr.Valid {
		h.Address = &addr.String
	}
	if typ.Valid {
		h.HouseType = &typ.String
	}
	return h, nil
}
