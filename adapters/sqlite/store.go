package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// timeLayout stores recorded_at as fixed-width UTC text: it sorts as it reads, and
// SQLite's own date functions understand it.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Store is the event store on SQLite (migrations part eventstore). Appends go through
// the DB's single write connection, one BEGIN IMMEDIATE transaction each, so appends
// from this process queue in database/sql and appends from other processes wait on
// SQLite's lock: either way one writer at a time, which is what keeps positions
// gap-free and in commit order. Reads use the read pool and never block the writer.
//
// Cursors are the decimal event position ("" before the first event).
//
// Use one Store per DB: subscribers are woken by appends through the same Store, and
// see anyone else's appends (another Store, another process) only when they poll.
type Store struct {
	// PollInterval is how often a caught-up subscription reads anyway. In-process
	// appends wake subscribers at once; polling is only for appends made by other
	// processes sharing the file. Zero means event.DefaultPoll.
	PollInterval time.Duration
	// SubscribeBatch is how many events a subscription reads at a time, and so the
	// largest batch its handler gets. Zero means event.DefaultBatch.
	SubscribeBatch int

	db     *DB
	notify event.Notifier
	follow event.Follower
	now    func() time.Time

	mu    sync.Mutex
	stmts *statements // prepared on first use; see statements

	group committer

	commits atomic.Uint64 // append transactions committed; read by the tests
}

// statements are prepared once per Store because parsing SQL took about a third of
// an append in the pure Go driver. Write statements live on the single write
// connection; read statements are prepared on each read connection as it is used.
// They go away when the DB is closed.
type statements struct {
	findEvent, streamVersion, storedIDs *sql.Stmt // on db.Write
	insertOne, insertChunk              *sql.Stmt // on db.Write
	readStream, readAll                 *sql.Stmt // on db.Read
}

// insertChunk events go into one INSERT: the per-statement overhead (database/sql
// bookkeeping, argument conversion, starting the VM) was most of a batched append's
// cost, while SQLite allows thousands of parameters per statement.
const insertChunk = 32

// insertSQL is an INSERT of rows events.
//
// OR ROLLBACK: any constraint failure aborts the whole append anyway, and saying so
// lets SQLite skip the statement journal it keeps to undo just the failed statement
// of a multi-row INSERT, which cost a temp-file write per page touched.
func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR ROLLBACK INTO events
		(event_id, stream_id, version, type, schema_version, data, metadata, recorded_at) VALUES `)
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

// statements prepares the Store's statements the first time it is called. It must
// not be called inside a write transaction: preparing needs the write connection.
func (s *Store) statements(ctx context.Context) (*statements, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stmts != nil {
		return s.stmts, nil
	}
	var st statements
	var prepared []*sql.Stmt
	for _, p := range []struct {
		db    *sql.DB
		query string
		stmt  **sql.Stmt
	}{
		{s.db.Write, `SELECT stream_id, version FROM events WHERE event_id = $1`, &st.findEvent},
		{s.db.Write, `SELECT version FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1`, &st.streamVersion},
		{s.db.Write, `SELECT event_id, position FROM events
			WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`, &st.storedIDs},
		{s.db.Write, insertSQL(1), &st.insertOne},
		{s.db.Write, insertSQL(insertChunk), &st.insertChunk},
		{s.db.Read, `SELECT ` + columns + ` FROM events
			WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`, &st.readStream},
		// Positions are gap-free and committed in order (one writer), so everything
		// after a position that is visible now is exactly what a later reader would
		// see first: "position > cursor" never skips a late commit.
		{s.db.Read, `SELECT ` + columns + ` FROM events
			WHERE position > $1 ORDER BY position LIMIT $2`, &st.readAll},
	} {
		stmt, err := p.db.PrepareContext(ctx, p.query)
		if err != nil {
			for _, s := range prepared {
				s.Close()
			}
			return nil, fmt.Errorf("prepare: %w", err)
		}
		prepared = append(prepared, stmt)
		*p.stmt = stmt
	}
	s.stmts = &st
	return s.stmts, nil
}

// NewStore returns the event store kept in db, whose eventstore migrations must have
// been applied (Open(ctx, path, migrations.EventStore)). Set its exported fields
// before the first Subscribe.
func NewStore(db *DB) *Store {
	s := &Store{db: db, now: time.Now}
	s.follow.Read = s.ReadAll
	s.follow.Wake = s.notify.Wait
	return s
}

// Append implements event.Store.
func (s *Store) Append(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, error) {
	if err := event.CheckAppend(stream, expected, events); err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	a := &pendingAppend{ctx: ctx, stream: stream, expected: expected, events: events,
		done: make(chan struct{}), lead: make(chan struct{})}
	s.group.enqueue(a, s.commitGroup)
	if a.err != nil {
		return event.AppendResult{}, fmt.Errorf("append %s: %w", stream, a.err)
	}
	return a.res, nil
}

// pendingAppend is one Append waiting for the commit of its group.
type pendingAppend struct {
	ctx      context.Context
	stream   string
	expected int64
	events   []event.Data

	res     event.AppendResult
	written bool
	err     error

	done chan struct{} // closed when res or err is set
	lead chan struct{} // closed when this append must commit the next group
}

// committer groups appends: while one group's transaction commits, the appends that
// arrive queue up, and the first of them then commits all of them in one transaction,
// one fsync for the lot. An fsync took most of an append's time on the write
// connection, so under concurrent commands it would otherwise bound the rate of
// appends. Each append is answered only after its group committed.
type committer struct {
	mu      sync.Mutex
	busy    bool // a group is being committed
	pending []*pendingAppend
}

// enqueue queues a and returns once a is answered; on the way the caller may have to
// commit a group, its own or one queued behind it. An append still queued when its
// context ends leaves the queue and is answered with the context's error.
func (c *committer) enqueue(a *pendingAppend, commit func([]*pendingAppend)) {
	c.mu.Lock()
	c.pending = append(c.pending, a)
	if c.busy {
		c.mu.Unlock()
		select {
		case <-a.done:
			return
		case <-a.lead:
		case <-a.ctx.Done():
			if c.leave(a) {
				a.err = a.ctx.Err()
				return
			}
			// Taken into a group already: its answer is the group's, or the lead.
			select {
			case <-a.done:
				return
			case <-a.lead:
			}
		}
		c.mu.Lock()
	}
	c.busy = true
	group := c.pending
	c.pending = nil
	c.mu.Unlock()

	// Whatever happens in commit, the group is answered and the lead handed on:
	// otherwise every later append would wait forever.
	defer c.handOn()
	answered := false
	defer func() {
		if answered {
			return
		}
		r := recover()
		for _, g := range group {
			g.err = fmt.Errorf("commit failed: %v", r)
			close(g.done)
		}
		panic(r)
	}()
	commit(group)
	answered = true
	for _, g := range group {
		close(g.done)
	}
}

// leave removes a from the queue if no group has taken it yet, handing the lead on if
// it had been given to a, and reports whether it did.
func (c *committer) leave(a *pendingAppend) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.pending, a)
	if i < 0 {
		return false
	}
	c.pending = slices.Delete(c.pending, i, i+1)
	select {
	case <-a.lead: // a was to lead the next group: the next in line does
		if len(c.pending) > 0 {
			close(c.pending[0].lead)
		} else {
			c.busy = false
		}
	default:
	}
	return true
}

// handOn gives the next group to the first append queued, rather than committing it
// on the caller's goroutine: the caller has its answer and should not wait for others.
func (c *committer) handOn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 {
		close(c.pending[0].lead)
	} else {
		c.busy = false
	}
}

// commitGroup commits group's appends in one transaction and answers each. An
// append that fails its own checks (a wrong expected version, an ID stored by
// another append) writes nothing and does not disturb the others. A failure that
// undoes the transaction (a unique violation under OR ROLLBACK, an I/O error) sends
// every append of the group through a transaction of its own, so that each gets its
// own answer.
func (s *Store) commitGroup(group []*pendingAppend) {
	if len(group) == 1 {
		s.commitAlone(group[0])
		return
	}
	// The group runs on the goroutine of whoever leads it: it must not fail the others
	// because that caller gave up. A caller who gave up before is left out; the wait for
	// the write connection ends when every member has given up, and a member that gave
	// up before the transaction began is left out too. Once it began, a member's answer
	// is the transaction's.
	var live []*pendingAppend
	for _, a := range group {
		if err := a.ctx.Err(); err != nil {
			a.err = err
			continue
		}
		live = append(live, a)
	}
	if len(live) == 0 {
		return
	}
	take, stop := untilAllDone(live)
	defer stop()
	ctx := context.WithoutCancel(live[0].ctx)
	began := live
	ok, err := s.inTx(take, ctx, func(tx *sql.Tx, st *statements) bool {
		began = nil
		for _, a := range live {
			if err := a.ctx.Err(); err != nil {
				a.err = err
				continue
			}
			began = append(began, a)
		}
		for _, a := range began {
			var clean bool
			a.res, a.written, a.err, clean = s.appendIn(ctx, tx, st, a.stream, a.expected, a.events)
			if !clean {
				return false
			}
		}
		return true
	})
	live = began
	if err != nil || !ok {
		for _, a := range live {
			a.res, a.written, a.err = event.AppendResult{}, false, nil
			s.commitAlone(a)
		}
		return
	}
	s.wrote(live)
}

// commitAlone commits a in a transaction of its own.
func (s *Store) commitAlone(a *pendingAppend) {
	var failed error
	_, err := s.inTx(a.ctx, a.ctx, func(tx *sql.Tx, st *statements) bool {
		var clean bool
		a.res, a.written, failed, clean = s.appendIn(a.ctx, tx, st, a.stream, a.expected, a.events)
		return clean && failed == nil
	})
	switch {
	case failed != nil:
		a.err = failed
	case err != nil:
		a.err = err
	default:
		s.wrote([]*pendingAppend{a})
	}
}

// wrote wakes subscribers if any of the committed appends wrote events: after the
// commit, since a woken reader must be able to see the rows.
func (s *Store) wrote(group []*pendingAppend) {
	for _, a := range group {
		if a.written && a.err == nil {
			s.notify.Notify()
			return
		}
	}
}

// inTx runs fill in a write transaction and commits it if fill returns true; false
// rolls it back and is returned as ok. take bounds the wait for the write connection;
// ctx bounds the transaction.
func (s *Store) inTx(take, ctx context.Context, fill func(*sql.Tx, *statements) bool) (ok bool, err error) {
	st, err := s.statements(take)
	if err != nil {
		return false, err
	}
	conn, err := s.db.Write.Conn(take)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if !fill(tx, st) {
		return false, nil
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	s.commits.Add(1)
	return true, nil
}

// untilAllDone returns a context that ends once the context of every one of group
// has ended, and a function that releases it.
func untilAllDone(group []*pendingAppend) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(group[0].ctx))
	left := int64(len(group))
	stops := make([]func() bool, len(group))
	for i, a := range group {
		stops[i] = context.AfterFunc(a.ctx, func() {
			if atomic.AddInt64(&left, -1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// appendIn makes one append in tx. clean reports whether tx can still be committed:
// an append refused by its checks wrote nothing and leaves it clean; any other error
// may have undone or broken the transaction.
func (s *Store) appendIn(ctx context.Context, tx *sql.Tx, st *statements, stream string, expected int64, events []event.Data) (res event.AppendResult, written bool, err error, clean bool) {
	// Idempotency comes first: the retry of an append that did commit finds its
	// stream past the expected version, and must still succeed.
	var firstStream string
	var firstVersion int64
	err = tx.StmtContext(ctx, st.findEvent).QueryRowContext(ctx, events[0].ID).Scan(&firstStream, &firstVersion)
	switch {
	case err == nil:
		res, err := replay(ctx, tx, st, stream, expected, events, firstStream, firstVersion)
		return res, false, err, err == nil || refused(err)
	case !errors.Is(err, sql.ErrNoRows):
		return res, false, fmt.Errorf("find event %s: %w", events[0].ID, err), false
	}

	current, err := streamVersion(ctx, tx, st, stream)
	if err != nil {
		return res, false, err, false
	}
	if expected != event.Any && expected != current {
		return res, false, wrongVersion(expected, current), true
	}

	recordedAt := s.now().UTC().Format(timeLayout)
	one, chunk := tx.StmtContext(ctx, st.insertOne), tx.StmtContext(ctx, st.insertChunk)
	args := make([]any, 0, 8*min(len(events), insertChunk))
	var position int64
	for i := 0; i < len(events); {
		stmt, n := one, 1
		if len(events)-i >= insertChunk {
			stmt, n = chunk, insertChunk
		}
		args = args[:0]
		for j, e := range events[i : i+n] {
			args = append(args, e.ID, stream, current+1+int64(i+j), e.Type, e.SchemaVersion,
				bytesOrEmpty(e.Data), bytesOrEmpty(e.Metadata), recordedAt)
		}
		r, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			// The first ID was checked above and the write lock is held, so a
			// unique violation here is a later event's ID stored by another append.
			// SQLite has rolled the transaction back (OR ROLLBACK); the lookup that
			// names the ID for the error runs outside it, which is fine for a read.
			if isUniqueViolation(err) {
				return res, false, duplicateIn(ctx, tx, st, events[i:i+n]), false
			}
			return res, false, fmt.Errorf("insert events: %w", err), false
		}
		if i += n; i == len(events) {
			if position, err = r.LastInsertId(); err != nil {
				return res, false, fmt.Errorf("insert events: %w", err), false
			}
		}
	}
	return event.AppendResult{
		Version:  current + int64(len(events)),
		Position: cursor(position),
	}, true, nil, true
}

// refused reports whether err is an append's own checks refusing it, before it wrote
// anything.
func refused(err error) bool {
	var de *domain.Error
	return errors.Is(err, event.ErrWrongExpectedVersion) || errors.As(err, &de)
}

// replay answers an append whose first event ID is already stored, at firstStream
// and firstVersion. If every event is stored, in order, where this append would have
// put them (right after expected, or anywhere in the stream for Any), it is a retry of
// an append that committed: return that append's result and write nothing. Otherwise
// the IDs belong to another append and writing them again would duplicate events:
// fail with ErrWrongExpectedVersion if the stream is not at the expected version (the
// usual answer to a stale writer), else with a plain conflict.
func replay(ctx context.Context, tx *sql.Tx, st *statements, stream string, expected int64, events []event.Data, firstStream string, firstVersion int64) (event.AppendResult, error) {
	if firstStream == stream && (expected == event.Any || firstVersion == expected+1) {
		stored, err := readStoredIDs(ctx, tx, st, stream, firstVersion, len(events))
		if err != nil {
			return event.AppendResult{}, err
		}
		if sameIDs(stored, events) {
			return event.AppendResult{
				Version:  firstVersion + int64(len(events)) - 1,
				Position: cursor(stored[len(stored)-1].position),
			}, nil
		}
	}
	current, err := streamVersion(ctx, tx, st, stream)
	if err != nil {
		return event.AppendResult{}, err
	}
	if expected != event.Any && expected != current {
		return event.AppendResult{}, wrongVersion(expected, current)
	}
	return event.AppendResult{}, duplicateID(events[0].ID)
}

type storedID struct {
	id       string
	position int64
}

func readStoredIDs(ctx context.Context, tx *sql.Tx, st *statements, stream string, from int64, n int) ([]storedID, error) {
	rows, err := tx.StmtContext(ctx, st.storedIDs).QueryContext(ctx, stream, from, n)
	if err != nil {
		return nil, fmt.Errorf("read stored ids: %w", err)
	}
	defer rows.Close()
	ids := make([]storedID, 0, n)
	for rows.Next() {
		var s storedID
		if err := rows.Scan(&s.id, &s.position); err != nil {
			return nil, fmt.Errorf("read stored ids: %w", err)
		}
		ids = append(ids, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored ids: %w", err)
	}
	return ids, nil
}

func sameIDs(stored []storedID, events []event.Data) bool {
	if len(stored) != len(events) {
		return false
	}
	for i := range events {
		if stored[i].id != events[i].ID {
			return false
		}
	}
	return true
}

// streamVersion returns the version of the stream's last event, or event.NoStream.
func streamVersion(ctx context.Context, tx *sql.Tx, st *statements, stream string) (int64, error) {
	var v int64
	err := tx.StmtContext(ctx, st.streamVersion).QueryRowContext(ctx, stream).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return event.NoStream, nil
	case err != nil:
		return 0, fmt.Errorf("stream version: %w", err)
	}
	return v, nil
}

func wrongVersion(expected, current int64) error {
	return fmt.Errorf("expected version %d, stream at %d: %w", expected, current, event.ErrWrongExpectedVersion)
}

func duplicateID(id string) error {
	return domain.Errorf(domain.ECONFLICT, "event %s is already stored by another append", id)
}

// duplicateIn names the first of events whose ID is stored already, for the error.
func duplicateIn(ctx context.Context, tx *sql.Tx, st *statements, events []event.Data) error {
	find := tx.StmtContext(ctx, st.findEvent)
	for _, e := range events {
		var stream string
		var version int64
		err := find.QueryRowContext(ctx, e.ID).Scan(&stream, &version)
		if err == nil {
			return duplicateID(e.ID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("find event %s: %w", e.ID, err)
		}
	}
	return domain.Errorf(domain.ECONFLICT, "an event of this append is already stored")
}

func isUniqueViolation(err error) bool {
	var se *sqlitedriver.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

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
	st, err := s.statements(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	rows, err := st.readStream.QueryContext(ctx, stream, from, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	events, err := scanEvents(rows, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return events, nil
}

// ReadAll implements event.Store. A malformed cursor is a domain.EINVALID error.
func (s *Store) ReadAll(ctx context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	if err := event.CheckRead(0, max); err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	pos, err := parseCursor(after)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	st, err := s.statements(ctx)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	rows, err := st.readAll.QueryContext(ctx, pos, max)
	if err != nil {
		return nil, fmt.Errorf("read all after %q: %w", after, err)
	}
	events, err := scanEvents(rows, max)
	if err != nil {
		return nil, fmt.Errorf("read all after %q: %w", after, err)
	}
	return events, nil
}

// Subscribe implements event.Store: catch up from the cursor, then follow live
// appends, woken at once by appends through this Store and by polling for any other.
func (s *Store) Subscribe(ctx context.Context, after event.Cursor, h event.Handler) error {
	if _, err := parseCursor(after); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	f := s.follow
	f.Poll, f.Batch = s.PollInterval, s.SubscribeBatch
	return f.Follow(ctx, after, h)
}

const columns = `position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at`

func scanEvents(rows *sql.Rows, max int) ([]event.Recorded, error) {
	defer rows.Close()
	events := make([]event.Recorded, 0, min(max, 1024))
	for rows.Next() {
		var (
			e          event.Recorded
			position   int64
			recordedAt string
		)
		if err := rows.Scan(&position, &e.ID, &e.StreamID, &e.Version, &e.Type, &e.SchemaVersion,
			&e.Data, &e.Metadata, &recordedAt); err != nil {
			return nil, err
		}
		t, err := time.Parse(timeLayout, recordedAt)
		if err != nil {
			return nil, fmt.Errorf("event %s: recorded_at: %w", e.ID, err)
		}
		e.Position = cursor(position)
		e.RecordedAt = t
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return events, nil
}

func cursor(position int64) event.Cursor {
	return event.Cursor(strconv.FormatInt(position, 10))
}

// parseCursor accepts only the canonical decimal form, so that one position has one
// cursor and a cursor from another adapter fails loudly instead of reading garbage.
func parseCursor(c event.Cursor) (int64, error) {
	if c == event.Start {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(c), 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != string(c) {
		return 0, domain.Errorf(domain.EINVALID, "malformed cursor %q", string(c))
	}
	return n, nil
}
