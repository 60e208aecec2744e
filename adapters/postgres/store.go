package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/backoff"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/migrations"
)

// eventsChannel is the NOTIFY channel on which appends are announced to the
// subscribers of other instances.
const eventsChannel = "scanledger_events"

// Store is the event store on PostgreSQL (migrations part eventstore).
//
// An append is one round trip, one transaction: it takes its stream's advisory lock
// (see lockStream), moves the stream's row in the streams table (the expected-version
// check) and inserts the events. Appends to different streams run side by side. Anything unexpected
// (a version conflict, a stored event id) writes nothing and is explained afterwards,
// which is where an idempotent retry is recognised.
//
// The all-stream is read in (transaction id, position) order, and only below the
// oldest transaction of this database still running, so an append that commits late
// is never skipped: see migrations/postgres/eventstore and horizonSQL. The price is
// that a long write transaction in this database delays every event committed after
// it began (never reorders or loses one): keep them short, or put such work in another
// database.
//
// Cursors are "xid:position" ("" before the first event). A cursor from AppendResult
// is exact for everything appended after Append returned; an append that was still in
// flight at that moment may lie before it, so readers resume from positions that
// ReadAll or Subscribe gave them.
//
// Subscribers in this process are woken as soon as an append commits here; those of
// other instances by a NOTIFY that follows the commit, and all of them by polling.
type Store struct {
	// PollInterval is how long a caught-up subscription waits for a wake-up before
	// reading anyway: the safety net for commits nobody signalled (a NOTIFY lost with
	// its sender, a listener reconnecting). Zero means event.DefaultPoll.
	PollInterval time.Duration
	// SubscribeBatch is how many events a subscription reads at a time, and so the
	// largest batch its handler gets. Zero means event.DefaultBatch.
	SubscribeBatch int
	// OnBackgroundError, if set, is told about every error retried in the background
	// instead of returned: subscription reads and the NOTIFY sender.
	OnBackgroundError func(error)

	db     *DB
	ownsDB bool
	follow event.Follower
	local  event.Notifier // wakes this process's subscribers

	// pending holds a token when an append committed since the last NOTIFY was sent.
	pending    chan struct{}
	ctx        context.Context // the Store's life, for its goroutines
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	listenOnce sync.Once
	closeOnce  sync.Once

	// beforeCommit, set by tests only, makes appends run in an explicit transaction
	// and calls it after the writes, before the commit.
	beforeCommit func(ctx context.Context, stream string) error
}

// Open connects to the database at url, applies the event store migrations and
// returns a Store that owns the connection: Close closes it. Use OpenDB and NewStore
// to share one DB between the store and the read models.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := OpenDB(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, migrations.EventStore); err != nil {
		db.Close()
		return nil, err
	}
	s := NewStore(db)
	s.ownsDB = true
	return s, nil
}

// NewStore returns the event store kept in db, whose eventstore migrations must have
// been applied. Set its exported fields before the first Append or Subscribe. Close
// the Store before db.
func NewStore(db *DB) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		db:      db,
		pending: make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
	}
	s.follow = event.Follower{Read: s.read, Wake: s.local.Wait}
	s.wg.Go(s.announce)
	return s
}

func (s *Store) backgroundError(err error) {
	if s.OnBackgroundError != nil {
		s.OnBackgroundError(err)
	}
}

// DB is the database the Store is kept in.
func (s *Store) DB() *DB { return s.db }

// Close stops the Store's background work, and closes its DB if Open created it. Call
// it once every Subscribe has returned.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		if s.ownsDB {
			s.db.Close()
		}
	})
}

// announceEvery is the shortest gap between two NOTIFYs of appends. Each NOTIFY is a
// transaction of its own, so under load one per commit would cost nearly as much as
// the appends; the first commit after a quiet spell is announced at once, and those
// of a burst wait at most this long.
const announceEvery = 2 * time.Millisecond

// announce sends NOTIFY after commits, one at a time. NOTIFY takes a database-wide
// lock from its transaction's commit until that commit is flushed, so one NOTIFY in
// every append would make all appends commit one by one (about ten times fewer at 32
// writers). Sent from here, a burst of appends costs one NOTIFY, and no append waits.
func (s *Store) announce() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.pending:
		}
		if err := s.db.Notify(s.ctx, eventsChannel); err != nil && s.ctx.Err() == nil {
			s.backgroundError(fmt.Errorf("announce appends: %w", err))
		}
		t.Reset(announceEvery)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Append implements event.Store.
func (s *Store) Append(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, error) {
	if err := validateAppend(stream, expected, events); err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	res, outcome, err := s.write(ctx, stream, expected, events)
	if err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, unavailable(err))
	}
	if outcome != written {
		res, err = s.explain(ctx, stream, expected, events, outcome)
		if err != nil {
			return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, unavailable(err))
		}
		return res, nil
	}
	s.local.Notify() // after the commit: a woken reader must find the rows
	wake(s.pending)
	return res, nil
}

// outcome is what write did.
type outcome int

const (
	written       outcome = iota
	versionFailed         // the stream was not at the expected version
	idStored              // an event id of the append is stored already
)

// The three ways an append moves its stream's row; each yields the version before
// the append as prev, or no row when the stream is not where expected says. $7 is the
// number of events, $8 the expected version.
const (
	moveNoStream = `INSERT INTO streams (stream_id, version) VALUES ($1, $7::bigint - 1)
		ON CONFLICT (stream_id) DO NOTHING
		RETURNING -1::bigint AS prev`
	moveExact = `UPDATE streams SET version = version + $7::bigint
		WHERE stream_id = $1 AND version = $8::bigint
		RETURNING version - $7::bigint AS prev`
	moveAny = `INSERT INTO streams AS s (stream_id, version) VALUES ($1, $7::bigint - 1)
		ON CONFLICT (stream_id) DO UPDATE SET version = s.version + $7::bigint
		RETURNING s.version - $7::bigint AS prev`
)

// insertEvents follows one of the moves in the same statement, so that a whole append
// is one round trip and one implicit transaction: no events when the move returned no
// row. ORDER BY ord makes positions follow the order of the events.
const insertEvents = `
INSERT INTO events (event_id, stream_id, version, type, schema_version, data, metadata)
SELECT e.id::uuid, $1, s.prev + e.ord, e.type, e.schema_version, e.data, e.metadata
FROM s, unnest($2::text[], $3::text[], $4::int4[], $5::bytea[], $6::bytea[])
	WITH ORDINALITY AS e(id, type, schema_version, data, metadata, ord)
ORDER BY e.ord
RETURNING xid, position, version`

// insertEvent is insertEvents for a single event, the usual append: scalar parameters
// spare the client and the server building and unpacking arrays.
const insertEvent = `
INSERT INTO events (event_id, stream_id, version, type, schema_version, data, metadata)
SELECT $2::uuid, $1, s.prev + 1, $3::text, $4::int4, $5::bytea, $6::bytea
FROM s
RETURNING xid, position, version`

// write tries the append and reports whether it wrote; it returns an error only for
// failures that explain cannot turn into an answer.
func (s *Store) write(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, outcome, error) {
	n := len(events)
	ids := make([]string, n)
	types := make([]string, n)
	schemaVersions := make([]int32, n)
	data := make([][]byte, n)
	metadata := make([][]byte, n)
	for i, e := range events {
		ids[i], types[i], schemaVersions[i] = e.ID, e.Type, int32(e.SchemaVersion)
		data[i], metadata[i] = bytesOrEmpty(e.Data), bytesOrEmpty(e.Metadata)
	}
	args := []any{stream, ids, types, schemaVersions, data, metadata, int64(n)}
	insert := insertEvents
	if n == 1 {
		insert = insertEvent
		args = []any{stream, ids[0], types[0], schemaVersions[0], data[0], metadata[0], int64(n)}
	}
	var move string
	switch expected {
	case event.NoStream:
		move = moveNoStream
	case event.Any:
		move = moveAny
	default:
		move = moveExact
		args = append(args, expected)
	}

	var (
		last        position
		lastVersion int64
		rowsWritten int
	)
	err := s.inTx(ctx, stream, func(q querier) error {
		batch := &pgx.Batch{}
		batch.Queue(lockStream, stream)
		batch.Queue("WITH s AS ("+move+")"+insert, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				if err := rows.Scan(&last.xid, &last.pos, &lastVersion); err != nil {
					return err
				}
				rowsWritten++
			}
			return rows.Err()
		})
		return q.SendBatch(ctx, batch).Close()
	})
	switch code, constraint := pgCode(err); {
	case err == nil && rowsWritten == 0:
		return event.AppendResult{}, versionFailed, nil
	case err == nil:
		return event.AppendResult{Version: lastVersion, Position: last.cursor()}, written, nil
	case code == uniqueViolation && constraint == eventIDKey:
		return event.AppendResult{}, idStored, nil
	case code == uniqueViolation && constraint == streamVersionKey:
		// The streams row disagrees with the events (events written by hand?): the
		// version check is what failed.
		return event.AppendResult{}, versionFailed, nil
	case code == invalidTextRepresentation || code == characterNotInRepertoire || code == untranslatableCharacter:
		return event.AppendResult{}, 0, fmt.Errorf("%w: %w", domain.Errorf(domain.EINVALID, "the database refused a value"), err)
	default:
		return event.AppendResult{}, 0, err
	}
}

// lockStream queues an append behind the other appends to its stream, before the
// append writes anything. The all-stream is in transaction id order, and a transaction
// gets its id when it first writes: an append that wrote before it waited for the
// stream (two appends racing to create it both insert the row, and the loser waits)
// could hold an older id than the appends that get the stream before it, and its
// events would sort before theirs. A transaction-level advisory lock needs no id, so
// an append gets its id only once the stream is its own, and ids follow versions. The
// (class, key) form keeps these locks apart from the projection locks (one bigint
// key); streams whose names hash alike merely take turns.
const lockStream = `SELECT pg_advisory_xact_lock(` + streamLockClass + `, hashtext($1))`

// streamLockClass is the first key of every stream lock. Fixed forever: instances of
// different builds must agree on it.
const streamLockClass = "1398031427"

// querier is what an append's statements run on: the pool (a batch is one implicit
// transaction) or, in tests, an explicit transaction.
type querier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// inTx runs f as the append's transaction. Normally that is f's batch on its own,
// committed by the server as it completes: one round trip per append.
func (s *Store) inTx(ctx context.Context, stream string, f func(querier) error) error {
	if s.beforeCommit == nil {
		return f(s.db.pool)
	}
	tx, err := s.db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(tx); err != nil {
		return err
	}
	if err := s.beforeCommit(ctx, stream); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// explain answers an append that wrote nothing. If every event is stored, in order,
// where this append would have put them (right after expected, or anywhere in the
// stream for Any), it is the retry of an append that committed: return that append's
// result. Otherwise it fails with ErrWrongExpectedVersion when the stream was not at
// the expected version (the usual answer to a stale writer), else with a conflict on
// the stored id, since writing it again would duplicate an event.
func (s *Store) explain(ctx context.Context, stream string, expected int64, events []event.Data, why outcome) (event.AppendResult, error) {
	var firstStream string
	var firstVersion int64
	err := s.db.pool.QueryRow(ctx, `SELECT stream_id, version FROM events WHERE event_id = $1::uuid`, events[0].ID).
		Scan(&firstStream, &firstVersion)
	switch {
	case err == nil:
		if firstStream == stream && (expected == event.Any || firstVersion == expected+1) {
			res, ok, err := s.replay(ctx, stream, firstVersion, events)
			if err != nil || ok {
				return res, err
			}
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return event.AppendResult{}, fmt.Errorf("look up event %s: %w", events[0].ID, err)
	}

	current, err := s.streamVersion(ctx, stream)
	if err != nil {
		return event.AppendResult{}, err
	}
	if why == versionFailed || (expected != event.Any && expected != current) {
		return event.AppendResult{}, wrongVersion(expected, current)
	}
	id, err := s.firstStoredID(ctx, events)
	if err != nil {
		return event.AppendResult{}, err
	}
	return event.AppendResult{}, duplicateID(id)
}

// replay reports whether events are stored in stream from version from on, in order,
// and if so the result of the append that stored them.
func (s *Store) replay(ctx context.Context, stream string, from int64, events []event.Data) (event.AppendResult, bool, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT event_id, xid, position FROM events
		WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`, stream, from, len(events))
	if err != nil {
		return event.AppendResult{}, false, fmt.Errorf("read stored ids: %w", err)
	}
	defer rows.Close()
	var (
		i    int
		id   string
		last position
	)
	for rows.Next() {
		if err := rows.Scan(&id, &last.xid, &last.pos); err != nil {
			return event.AppendResult{}, false, fmt.Errorf("read stored ids: %w", err)
		}
		if id != events[i].ID {
			return event.AppendResult{}, false, nil
		}
		i++
	}
	if err := rows.Err(); err != nil {
		return event.AppendResult{}, false, fmt.Errorf("read stored ids: %w", err)
	}
	if i != len(events) {
		return event.AppendResult{}, false, nil
	}
	return event.AppendResult{Version: from + int64(len(events)) - 1, Position: last.cursor()}, true, nil
}

// streamVersion returns the version of the stream's last event, or event.NoStream.
func (s *Store) streamVersion(ctx context.Context, stream string) (int64, error) {
	var v int64
	err := s.db.pool.QueryRow(ctx, `SELECT version FROM streams WHERE stream_id = $1`, stream).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return event.NoStream, nil
	case err != nil:
		return 0, fmt.Errorf("stream version: %w", err)
	}
	return v, nil
}

// firstStoredID names an id of events that is stored already, for the error message.
func (s *Store) firstStoredID(ctx context.Context, events []event.Data) (string, error) {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	var id string
	err := s.db.pool.QueryRow(ctx, `SELECT event_id FROM events WHERE event_id = ANY($1::text[]::uuid[]) LIMIT 1`, ids).Scan(&id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("look up stored ids: %w", err)
	}
	if id == "" {
		id = ids[0] // stored a moment ago, gone since: cannot happen to an immutable log
	}
	return id, nil
}

func validateAppend(stream string, expected int64, events []event.Data) error {
	if err := event.CheckAppend(stream, expected, events); err != nil {
		return err
	}
	// What the column types cannot hold exactly is refused here, not by the server.
	if err := validText("stream name", stream); err != nil {
		return err
	}
	for i, e := range events {
		switch {
		case !isUUID(e.ID):
			return domain.Errorf(domain.EINVALID, "event %d: id %q is not a lowercase UUID", i, e.ID)
		case e.SchemaVersion > 1<<31-1:
			return domain.Errorf(domain.EINVALID, "event %s has schema version %d, want 1 to 2^31-1", e.ID, e.SchemaVersion)
		}
		if err := validText("event "+e.ID+" type", e.Type); err != nil {
			return err
		}
	}
	return nil
}

// validText rejects what a text column cannot hold, before the server does.
func validText(what, s string) error {
	switch {
	case s == "":
		return domain.Errorf(domain.EINVALID, "empty %s", what)
	case !utf8.ValidString(s):
		return domain.Errorf(domain.EINVALID, "%s is not valid UTF-8", what)
	case strings.ContainsRune(s, 0):
		return domain.Errorf(domain.EINVALID, "%s contains NUL", what)
	}
	return nil
}

// isUUID accepts the canonical lowercase form only: the uuid column hands ids back in
// that form, and an id must read back exactly as it was appended.
func isUUID(s string) bool { return domain.ValidID(s) && strings.ToLower(s) == s }

// bytesOrEmpty keeps a nil payload from becoming NULL in a NOT NULL column.
func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ReadStream implements event.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, max int) ([]event.Recorded, error) {
	if err := event.CheckRead(from, max); err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT `+columns+` FROM events
		WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`, stream, from, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, unavailable(err))
	}
	events, err := scanEvents(rows, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, unavailable(err))
	}
	return events, nil
}

// horizonSQL is the transaction id below which the all-stream is settled: every
// transaction under it that could still add events has finished, and nothing can sort
// before a row below it any more. It is the oldest transaction still running,
// pg_snapshot_xmin, with one refinement: transactions of other databases of the
// server cannot write these events, yet every snapshot waits for them, so an idle
// transaction anywhere on a shared server would hold all readers back. A transaction
// whose database cannot be told (it ended meanwhile, or the role may not see it in
// pg_stat_activity) still counts. Without any, it is the snapshot's xmax.
//
// It reads the statement's own snapshot (pg_current_snapshot is the snapshot the
// statement reads with), so the rows a statement returns below it are complete. A
// standby lists no running transactions in that snapshot (it keeps them elsewhere),
// so there only xmin is safe.
const horizonSQL = `(SELECT CASE WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(pg_current_snapshot()) ELSE (
		SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
		FROM pg_snapshot_xip(pg_current_snapshot()) AS x
		WHERE x::xid NOT IN (SELECT backend_xid FROM pg_stat_activity
			WHERE backend_xid IS NOT NULL AND datname <> current_database())) END)`

// readAllSQL reads the settled all-stream after a position. Rows above the horizon
// wait for a later call: a transaction still running below them may yet commit events
// that sort before them. The row comparison and ORDER BY match the (xid, position)
// index, which the scan walks from the cursor.
const readAllSQL = `SELECT ` + columns + ` FROM events
	WHERE (xid, position) > ($1::xid8, $2::bigint) AND xid < ` + horizonSQL + `
	ORDER BY xid, position
	LIMIT $3`

// settleSQL reports the horizon, and the newest committed transaction whose events a
// read must include before it may come back short.
const settleSQL = `SELECT ` + horizonSQL + `, coalesce((SELECT max(xid) FROM events), '0'::xid8)`

// How long ReadAll waits for the events committed before it was called to settle.
// Appends take milliseconds, so this is only reached behind a long transaction in
// this database; then ReadAll returns what is settled rather than hang.
const (
	settleFirstPause = time.Millisecond
	settleMaxPause   = 50 * time.Millisecond
	settleMaxWait    = 2 * time.Second
)

// ReadAll implements event.Store. A malformed cursor is a domain.EINVALID error.
//
// Every event whose Append returned before ReadAll was called is included (up to
// max): when such an event still waits behind a transaction that began before it,
// ReadAll waits for that transaction (see settleMaxWait). Subscriptions do not wait
// this way; the commit they wait for wakes them.
func (s *Store) ReadAll(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	if err := event.CheckRead(0, max); err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	p, err := parseCursor(after)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	var (
		target  uint64
		pause   time.Duration
		waited  time.Duration
		targets = true
	)
	for {
		events, horizon, newest, err := s.readSettling(ctx, p, max, targets)
		if err != nil {
			return nil, fmt.Errorf("read all after %q: %w", after, unavailable(err))
		}
		if targets {
			target, targets = newest, false
		}
		if len(events) == max || horizon > target || waited >= settleMaxWait {
			return events, nil
		}
		pause = min(2*pause, settleMaxPause)
		if pause == 0 {
			pause = settleFirstPause
		}
		if err := backoff.Sleep(ctx, pause); err != nil {
			return nil, fmt.Errorf("read all after %q: %w", after, err)
		}
		waited += pause
	}
}

// readSettling reads like read, and reports the horizon (and, if asked, the newest
// committed transaction) as they were just before the read, in one round trip.
func (s *Store) readSettling(ctx context.Context, p position, max int, newest bool) (events []event.Recorded, horizon, latest uint64, err error) {
	batch := &pgx.Batch{}
	if newest {
		batch.Queue(settleSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&horizon, &latest) })
	} else {
		batch.Queue(`SELECT ` + horizonSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&horizon) })
	}
	batch.Queue(readAllSQL, p.xid, p.pos, max).Query(func(rows pgx.Rows) error {
		events, err = scanEvents(rows, max)
		return err
	})
	if err := s.db.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, 0, 0, err
	}
	// A horizon taken before the read is at most the read's own, so everything
	// below it is in events.
	return events, horizon, latest, nil
}

// read reads up to max settled events after p: a subscription's read.
func (s *Store) read(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	p, err := parseCursor(after)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	rows, err := s.db.pool.Query(ctx, readAllSQL, p.xid, p.pos, max)
	if err != nil {
		return nil, fmt.Errorf("read all after %q: %w", after, unavailable(err))
	}
	events, err := scanEvents(rows, max)
	if err != nil {
		return nil, fmt.Errorf("read all after %q: %w", after, unavailable(err))
	}
	return events, nil
}

// Subscribe implements event.Store: catch up from the cursor, then follow appends,
// woken at once by appends through this Store, by NOTIFY for other instances', and by
// polling for anything else.
func (s *Store) Subscribe(ctx context.Context, after event.Cursor, h event.Handler) error {
	if _, err := parseCursor(after); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	s.listenOnce.Do(s.relayNotifications)
	f := s.follow
	f.Poll, f.Batch, f.OnError = s.PollInterval, s.SubscribeBatch, s.OnBackgroundError
	return f.Follow(ctx, after, h)
}

// relayNotifications wakes this process's subscribers on every NOTIFY of an append,
// from the first Subscribe on: a Store that only appends holds no listening session.
func (s *Store) relayNotifications() {
	ch, err := s.db.Listen(s.ctx, eventsChannel)
	if err != nil {
		s.backgroundError(fmt.Errorf("listen for appends: %w", err)) // polling still delivers
		return
	}
	s.wg.Go(func() {
		for range ch {
			s.local.Notify()
		}
	})
}

const columns = `xid, position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at`

func scanEvents(rows pgx.Rows, max int) ([]event.Recorded, error) {
	defer rows.Close()
	events := make([]event.Recorded, 0, min(max, 1024))
	for rows.Next() {
		var (
			e             event.Recorded
			p             position
			schemaVersion int32
		)
		if err := rows.Scan(&p.xid, &p.pos, &e.ID, &e.StreamID, &e.Version, &e.Type, &schemaVersion,
			&e.Data, &e.Metadata, &e.RecordedAt); err != nil {
			return nil, err
		}
		e.Position = p.cursor()
		e.SchemaVersion = int(schemaVersion)
		e.RecordedAt = e.RecordedAt.UTC()
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return events, nil
}
