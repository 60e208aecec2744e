package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// SQLSTATEs the store tells apart.
const (
	uniqueViolation = "23505"
	// The server refused a value: text with NUL or invalid UTF-8, a malformed uuid.
	invalidTextRepresentation = "22P02"
	characterNotInRepertoire  = "22021"
	untranslatableCharacter   = "22P05"
)

// Constraint names from migrations/postgres/eventstore.
const (
	eventIDKey       = "events_event_id_key"
	streamVersionKey = "events_stream_id_version_key"
)

func pgCode(err error) (code, constraint string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code, pgErr.ConstraintName
	}
	return "", ""
}

func wrongVersion(expected, current int64) error {
	return fmt.Errorf("expected version %d, stream at %d: %w", expected, current, event.ErrWrongExpectedVersion)
}

func duplicateID(id string) error {
	return domain.Errorf(domain.ECONFLICT, "event %s is already stored by another append", id)
}

// unavailable adds an EUNAVAILABLE domain error to err's chain when err says the
// server could not be reached or the connection broke, so that callers (and the HTTP
// error table) can tell an outage from a bug. Other errors are returned unchanged.
func unavailable(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isConnectionError(err) {
		return fmt.Errorf("%w: %w", domain.Errorf(domain.EUNAVAILABLE, "the database is unavailable"), err)
	}
	return err
}

func isConnectionError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is "connection exception"; 57P0x are shutdowns and restarts.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P0")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
