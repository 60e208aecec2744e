// Package event defines the event store port: what an append, a stream read, an
// all-stream read and a subscription promise, whatever engine is behind them. Each
// adapter (adapters/sqlite, adapters/postgres, adapters/kurrentdb) implements Store and
// passes the conformance suite in domain/eventstoretest.
package event

import (
	"context"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// Expected versions. A stream's first event has version 0, so an exact expected
// version is the version of the stream's last event (>= 0).
const (
	// NoStream: the stream must not exist yet.
	NoStream int64 = -1
	// Any: append whatever the stream's version (no concurrency check).
	Any int64 = -2
)

// ErrWrongExpectedVersion is returned (possibly wrapped) by Append when the stream's
// version is not the one expected. It is the only concurrency error adapters return.
var ErrWrongExpectedVersion = &domain.Error{Code: domain.ECONFLICT, Message: "wrong expected version"}

// Data is an event to append. ID must be set by the caller before the first try and
// reused on every retry of the same append, so that a retry is idempotent.
type Data struct {
	ID            string // UUID
	Type          string // the stored type name, an explicit constant
	SchemaVersion int    // version of Data's shape for this Type, from 1
	Data          []byte // JSON
	Metadata      []byte // JSON (see Metadata)
}

// Recorded is an event read back from the store.
type Recorded struct {
	ID            string
	StreamID      string
	Version       int64  // position within the stream, from 0
	Position      Cursor // position in the all-stream; read all "after" it to continue
	Type          string
	SchemaVersion int
	Data          []byte
	Metadata      []byte
	RecordedAt    time.Time
}

// Cursor is a position in the all-stream, owned by the adapter that produced it and
// opaque to everyone else. The zero Cursor ("") means "before the first event".
// Cursors from one adapter are meaningless to another.
type Cursor string

// Start is the cursor before the first event.
const Start Cursor = ""

// AppendResult tells where an append landed.
type AppendResult struct {
	// Version is the stream version of the last event appended.
	Version int64
	// Position is the all-stream cursor of the last event appended.
	Position Cursor
}

// Handler receives events from a subscription in all-stream order, in batches of one
// or more. Returning an error stops the subscription with that error.
type Handler func(ctx context.Context, batch []Recorded) error

// Store is the event store port.
//
// Append writes events to the end of stream atomically if the stream is at the expected
// version (NoStream, Any, or an exact version) and returns ErrWrongExpectedVersion
// otherwise. Appending events whose IDs are already stored, in the same order, at the
// versions right after expected, succeeds again without writing anything (idempotent
// retry). An empty events slice is an error.
//
// ReadStream returns up to max events of stream with Version >= from, in version order;
// an unknown stream gives an empty slice and no error.
//
// ReadAll returns up to max events after the cursor in all-stream order. All-stream
// order is commit order: an event that becomes visible to ReadAll never appears before
// an event that was already returned by an earlier call, so a reader that walks forward
// by cursor never skips an event that committed late and never sees one twice.
//
// Subscribe calls h with every event after the cursor in all-stream order: first the
// events already stored (catch-up), then new ones as they are committed (live). It
// returns only when ctx is done (ctx.Err()) or h returns an error (that error).
// Transient store errors are retried inside Subscribe, not returned.
type Store interface {
	Append(ctx context.Context, stream string, expected int64, events []Data) (AppendResult, error)
	ReadStream(ctx context.Context, stream string, from int64, max int) ([]Recorded, error)
	ReadAll(ctx context.Context, after Cursor, max int) ([]Recorded, error)
	Subscribe(ctx context.Context, after Cursor, h Handler) error
}
