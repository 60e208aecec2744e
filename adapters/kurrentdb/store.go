// Package kurrentdb implements the event store port (event.Store) on KurrentDB
// (formerly EventStoreDB) through its gRPC client. Our streams map 1:1 onto KurrentDB
// streams; the all-stream is KurrentDB's $all restricted to our stream prefixes; a
// cursor is the "commit:prepare" pair of $all positions.
package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// DefaultStreamPrefix is the prefix of every scanledger stream (architecture §5): the
// all-stream and subscriptions see only streams that start with it.
const DefaultStreamPrefix = "scan-"

// Store is an event.Store on a KurrentDB node or cluster.
type Store struct {
	client   *esdb.Client
	prefixes []string
	// retryDelay is the first pause before a dropped subscription resubscribes; it
	// doubles on each failure in a row, up to maxRetryDelay.
	retryDelay time.Duration
	logger     esdb.LoggingFunc
}

var _ event.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithStreamPrefixes sets which streams make up the all-stream (ReadAll, Subscribe).
// With no prefixes at all, every non-system stream (not starting with "$") does.
// The default is DefaultStreamPrefix.
func WithStreamPrefixes(prefixes ...string) Option {
	return func(s *Store) { s.prefixes = append([]string(nil), prefixes...) }
}

// WithClientLogger routes the KurrentDB client's own log lines to l. By default they
// are dropped: the client logs every cancelled subscription at error level, and
// Subscribe already handles drops.
func WithClientLogger(l esdb.LoggingFunc) Option {
	return func(s *Store) { s.logger = l }
}

// Open connects to KurrentDB. connectionString is an esdb:// or kurrentdb:// URL
// (e.g. "esdb://127.0.0.1:2113?tls=false"); the client connects lazily, so an
// unreachable server shows up on the first call, not here.
func Open(ctx context.Context, connectionString string, opts ...Option) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open kurrentdb: %w", err)
	}
	// The v4 client only knows the esdb schemes; kurrentdb:// is the same URL grammar.
	conn := connectionString
	for _, p := range [][2]string{{"kurrentdb+discover://", "esdb+discover://"}, {"kurrentdb://", "esdb://"}, {"kdb://", "esdb://"}} {
		if rest, ok := strings.CutPrefix(conn, p[0]); ok {
			conn = p[1] + rest
			break
		}
	}
	conf, err := esdb.ParseConnectionString(conn)
	if err != nil {
		// The parser's message may echo the URL, credentials included: leave it out.
		return nil, fmt.Errorf("open kurrentdb: %w", domain.Errorf(domain.EINVALID, "bad connection string (want esdb:// or kurrentdb://)"))
	}
	s := &Store{prefixes: []string{DefaultStreamPrefix}, retryDelay: 200 * time.Millisecond, logger: esdb.NoopLogging()}
	for _, o := range opts {
		o(s)
	}
	conf.Logger = s.logger
	if s.client, err = esdb.NewClient(conf); err != nil {
		return nil, fmt.Errorf("open kurrentdb: %w", err)
	}
	return s, nil
}

// Close closes the client connection.
func (s *Store) Close() error { return s.client.Close() }

// Append implements event.Store.
//
// KurrentDB checks the expected version atomically, but it only deduplicates event IDs
// for retries at the same expected version, and only for a while. So Append first reads
// the stream to honour the port's idempotency rules (a retry returns the first result
// even after the stream moved on; a stored ID elsewhere in the stream is a conflict).
// That read covers the whole stream: cheap for scanledger's short per-aggregate
// streams, not meant for streams of many thousands of events.
//
// Limits, both from KurrentDB having neither an index by event ID nor multi-stream
// transactions: event IDs are NOT checked across streams, and the read-then-append of
// two concurrent appends with Any carrying the same new IDs is left to the server's
// own (best-effort) deduplication. Exact expected versions stay strictly atomic.
func (s *Store) Append(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, error) {
	if err := validateAppend(stream, expected, events); err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	stored, err := s.readStream(ctx, stream, 0, 0)
	if err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	if res, done, err := checkStored(stored, expected, events); done || err != nil {
		if err != nil {
			return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
		}
		return res, nil
	}

	proposed := make([]esdb.EventData, len(events))
	for i, e := range events {
		id, _ := uuid.Parse(e.ID) // validated above
		proposed[i] = esdb.EventData{
			EventID:     id,
			EventType:   e.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        e.Data,
			Metadata:    wrapMetadata(e.SchemaVersion, e.Metadata),
		}
	}
	var rev esdb.ExpectedRevision
	switch expected {
	case event.NoStream:
		rev = esdb.NoStream{}
	case event.Any:
		rev = esdb.Any{}
	default:
		rev = esdb.Revision(uint64(expected))
	}
	wr, err := s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, proposed...)
	if err != nil {
		if esdbCode(err) == esdb.ErrorCodeWrongExpectedVersion {
			return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, event.ErrWrongExpectedVersion)
		}
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	return event.AppendResult{
		// NextExpectedVersion is the revision of the last event written.
		Version:  int64(wr.NextExpectedVersion),
		Position: formatCursor(esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}),
	}, nil
}

// checkStored applies the idempotency rules to the stream's stored events: done is
// true when the append is a retry of one already stored (res is its result).
func checkStored(stored []event.Recorded, expected int64, events []event.Data) (res event.AppendResult, done bool, err error) {
	at := make(map[string]int, len(stored))
	for i, e := range stored {
		at[e.ID] = i
	}
	current := int64(len(stored)) - 1 // NoStream (-1) when empty
	first, seen := at[events[0].ID]
	anyStored := seen
	for _, e := range events[1:] {
		if _, ok := at[e.ID]; ok {
			anyStored = true
		}
	}
	if anyStored && seen && (expected == event.Any || int64(first) == expected+1) {
		retry := first+len(events) <= len(stored)
		for i := 0; retry && i < len(events); i++ {
			retry = stored[first+i].ID == events[i].ID
		}
		if retry {
			last := stored[first+len(events)-1]
			return event.AppendResult{Version: last.Version, Position: last.Position}, true, nil
		}
	}
	if expected != event.Any && expected != current {
		return event.AppendResult{}, false, event.ErrWrongExpectedVersion
	}
	if anyStored {
		return event.AppendResult{}, false, domain.Errorf(domain.ECONFLICT, "event ids already stored in the stream")
	}
	return event.AppendResult{}, false, nil
}

func validateAppend(stream string, expected int64, events []event.Data) error {
	if err := event.CheckAppend(stream, expected, events); err != nil {
		return err
	}
	for _, e := range events {
		// KurrentDB event IDs are UUIDs; the canonical form must round-trip exactly.
		if id, err := uuid.Parse(e.ID); err != nil || id.String() != e.ID {
			return domain.Errorf(domain.EINVALID, "event id %q is not a lowercase canonical UUID", e.ID)
		}
	}
	return nil
}

// ReadStream implements event.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, max int) ([]event.Recorded, error) {
	if from < 0 {
		return nil, fmt.Errorf("read %s: %w", stream, domain.Errorf(domain.EINVALID, "negative version %d", from))
	}
	if max < 1 {
		return nil, fmt.Errorf("read %s: %w", stream, domain.Errorf(domain.EINVALID, "max %d, want >= 1", max))
	}
	got, err := s.readStream(ctx, stream, from, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return got, nil
}

// readStream reads up to max events (all with max 0) from version from.
func (s *Store) readStream(ctx context.Context, stream string, from int64, max int) ([]event.Recorded, error) {
	count := uint64(max)
	if max == 0 {
		count = math.MaxInt64 // "all": what the .NET client sends, safe for any server
	}
	rs, err := s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(uint64(from))}, count)
	if err != nil {
		if esdbCode(err) == esdb.ErrorCodeResourceNotFound {
			return []event.Recorded{}, nil
		}
		return nil, err
	}
	defer rs.Close()
	out := []event.Recorded{}
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if esdbCode(err) == esdb.ErrorCodeResourceNotFound {
				return []event.Recorded{}, nil
			}
			return nil, err
		}
		if re.Event == nil {
			continue
		}
		r, err := toRecorded(re.Event)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
}

// ReadAll implements event.Store. $all holds system events and other applications'
// streams too, so it reads pages until it has max of ours or reaches the end.
func (s *Store) ReadAll(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	if max < 1 {
		return nil, fmt.Errorf("read all: %w", domain.Errorf(domain.EINVALID, "max %d, want >= 1", max))
	}
	pos, err := parseCursor(after)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	out := []event.Recorded{}
	page := uint64(max) + 1 // reads from a position include it: one more to skip it
	for {
		var from esdb.AllPosition = esdb.Start{}
		if pos != nil {
			from = *pos
		}
		rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{From: from}, page)
		if err != nil {
			return nil, fmt.Errorf("read all: %w", err)
		}
		n, moved := uint64(0), false
		for {
			re, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return nil, fmt.Errorf("read all: %w", err)
			}
			n++
			if re.Event == nil {
				continue
			}
			p := re.Event.Position
			if pos != nil && !after0(p, *pos) {
				continue
			}
			pos, moved = &p, true
			if !s.ours(re.Event.StreamID) {
				continue
			}
			r, err := toRecorded(re.Event)
			if err != nil {
				rs.Close()
				return nil, fmt.Errorf("read all: %w", err)
			}
			out = append(out, r)
			if len(out) == max {
				rs.Close()
				return out, nil
			}
		}
		rs.Close()
		if n < page {
			return out, nil
		}
		if !moved {
			// A full page without one event past the cursor would loop forever.
			return nil, fmt.Errorf("read all: $all did not advance past %s", formatCursor(*pos))
		}
	}
}

// after0 reports whether a lies strictly after b in $all.
func after0(a, b esdb.Position) bool {
	if a.Commit != b.Commit {
		return a.Commit > b.Commit
	}
	return a.Prepare > b.Prepare
}

// ours reports whether a stream belongs to the all-stream this Store shows.
func (s *Store) ours(stream string) bool {
	if strings.HasPrefix(stream, "$") {
		return false
	}
	if len(s.prefixes) == 0 {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}

// Subscribe implements event.Store with a server-side filtered $all subscription,
// resubscribing after the last delivered position whenever it drops.
func (s *Store) Subscribe(ctx context.Context, after event.Cursor, h event.Handler) error {
	pos, err := parseCursor(after)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	filter := &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: s.prefixes}
	if len(s.prefixes) == 0 {
		// The client demands prefixes or a regex: this one excludes system streams.
		filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: `^[^$]`}
	}
	delay := s.retryDelay
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var from esdb.AllPosition = esdb.Start{}
		if pos != nil {
			from = *pos // exclusive for subscriptions
		}
		sub, err := s.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: from, Filter: filter})
		if err == nil {
			before := pos
			err = s.pump(ctx, sub, h, &pos)
			sub.Close()
			var stop stopError
			if errors.As(err, &stop) {
				return stop.err
			}
			if pos != before {
				delay = s.retryDelay // it made progress: the next drop is a new incident
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A transient failure (dropped connection, leader change, node down): back off
		// so that a dead server is not hammered, then resume after the last position.
		t := time.NewTimer(delay)
		delay = min(2*delay, maxRetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// maxRetryDelay caps the backoff between resubscriptions.
const maxRetryDelay = 5 * time.Second

// stopError marks an error that ends Subscribe instead of a resubscription: the
// handler's own error, or an event we cannot decode (retrying would only fail again).
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }

// pump delivers a subscription's events one batch each until it drops, advancing *pos
// past every delivered (or filtered out) event.
func (s *Store) pump(ctx context.Context, sub *esdb.Subscription, h event.Handler, pos **esdb.Position) error {
	for {
		ev := sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			return fmt.Errorf("subscription dropped: %w", ev.SubscriptionDropped.Error)
		case ev.EventAppeared != nil && ev.EventAppeared.Event != nil:
			e := ev.EventAppeared.Event
			p := e.Position
			if *pos != nil && !after0(p, **pos) {
				continue // a resubscription never repeats, but be safe
			}
			if !s.ours(e.StreamID) {
				*pos = &p
				continue
			}
			r, err := toRecorded(e)
			if err != nil {
				return stopError{fmt.Errorf("subscribe: %w", err)}
			}
			// Events already buffered in the stream keep arriving after cancellation:
			// stop at once rather than hand them to the handler.
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := h(ctx, []event.Recorded{r}); err != nil {
				return stopError{err}
			}
			*pos = &p
		}
	}
}

func toRecorded(e *esdb.RecordedEvent) (event.Recorded, error) {
	sv, meta, err := unwrapMetadata(e.UserMetadata)
	if err != nil {
		return event.Recorded{}, fmt.Errorf("event %s in %s: %w", e.EventID, e.StreamID, err)
	}
	data := e.Data
	if data == nil {
		data = []byte{}
	}
	return event.Recorded{
		ID:            e.EventID.String(),
		StreamID:      e.StreamID,
		Version:       int64(e.EventNumber),
		Position:      formatCursor(e.Position),
		Type:          e.EventType,
		SchemaVersion: sv,
		Data:          data,
		Metadata:      meta,
		RecordedAt:    e.CreatedDate,
	}, nil
}

// KurrentDB has no field for our schema version, so the stored metadata wraps ours:
// {"schemaVersion":N,"metadata":<our metadata bytes verbatim>}. It stays valid JSON for
// KurrentDB's own tools, and is built and parsed by hand so that our bytes (which the
// hash chain covers) round-trip exactly, whitespace and key order included.
const (
	metaPrefix = `{"schemaVersion":`
	metaField  = `,"metadata":`
)

func wrapMetadata(schemaVersion int, meta []byte) []byte {
	b := strconv.AppendInt([]byte(metaPrefix), int64(schemaVersion), 10)
	if len(meta) > 0 {
		b = append(b, metaField...)
		b = append(b, meta...)
	}
	return append(b, '}')
}

func unwrapMetadata(b []byte) (int, []byte, error) {
	rest, ok := strings.CutPrefix(string(b), metaPrefix)
	if !ok || !strings.HasSuffix(rest, "}") {
		return 0, nil, errors.New("metadata is not a scanledger envelope")
	}
	rest = rest[:len(rest)-1]
	num, meta, hasMeta := strings.Cut(rest, metaField)
	sv, err := strconv.Atoi(num)
	if err != nil {
		return 0, nil, fmt.Errorf("metadata envelope: bad schema version %q", num)
	}
	if !hasMeta {
		return sv, []byte{}, nil
	}
	return sv, []byte(meta), nil
}

func formatCursor(p esdb.Position) event.Cursor {
	return event.Cursor(strconv.FormatUint(p.Commit, 10) + ":" + strconv.FormatUint(p.Prepare, 10))
}

// parseCursor returns nil for event.Start.
func parseCursor(c event.Cursor) (*esdb.Position, error) {
	if c == event.Start {
		return nil, nil
	}
	commit, prepare, ok := strings.Cut(string(c), ":")
	cp, err1 := strconv.ParseUint(commit, 10, 64)
	pp, err2 := strconv.ParseUint(prepare, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, domain.Errorf(domain.EINVALID, "malformed cursor %q", string(c))
	}
	return &esdb.Position{Commit: cp, Prepare: pp}, nil
}

// esdbCode digests the client's error; it wraps its *esdb.Error in fmt errors.
func esdbCode(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return esdb.ErrorCodeUnknown
}
