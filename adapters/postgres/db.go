// Package postgres is scanledger's PostgreSQL engine: an event store on pgx (Store),
// and the plumbing other packages share on the same server (DB): the database/sql
// handle read models use, LISTEN/NOTIFY wake-ups, and the advisory locks that let one
// instance at a time write each projection.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/migrations"
)

// defaultMaxConns replaces pgxpool's default (4, or the CPU count) when the URL sets
// no pool_max_conns. An append spends most of its time waiting for its commit to be
// flushed, and Postgres flushes the commits of every waiting transaction at once, so
// concurrent appends only share flushes if they have connections to wait on.
const defaultMaxConns = 16

// DB is a connection pool to one PostgreSQL database, with what every scanledger
// package on Postgres needs from it: Pool for pgx callers, SQL for database/sql callers
// (migrations, read models), Listen and Notify for wake-ups across instances, and
// ProjectionLock. Its methods are safe for concurrent use.
type DB struct {
	// OnBackgroundError, if set, is told about every error of the LISTEN connection,
	// which is retried in the background instead of returned: without it an outage
	// would be silent until the poll catches up. Set it before the first Listen.
	OnBackgroundError func(error)

	pool     *pgxpool.Pool
	sql      *sql.DB
	listener *listener

	closeOnce sync.Once
}

// OpenDB connects to the database at url (a postgres:// URL or a keyword/value DSN,
// with pgxpool's pool_* settings) and checks that it answers. It applies no
// migrations: see Migrate, or Open for the event store.
func OpenDB(ctx context.Context, url string) (*DB, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		pc.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s@%s/%s: %w", pc.ConnConfig.User, pc.ConnConfig.Host, pc.ConnConfig.Database, unavailable(err))
	}
	db := &DB{
		pool: pool,
		// OpenDBFromPool keeps no idle connections of its own, so database/sql users
		// borrow from the same pool rather than starving it.
		sql: stdlib.OpenDBFromPool(pool),
	}
	db.listener = newListener(pc.ConnConfig, db.backgroundError)
	return db, nil
}

func (db *DB) backgroundError(err error) {
	if db.OnBackgroundError != nil {
		db.OnBackgroundError(err)
	}
}

// Pool is the pgx pool, for callers that speak pgx.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQL is a database/sql view of the same pool, for migrations and read models
// (projections.DB{DB: db.SQL(), Dialect: projections.Postgres}).
func (db *DB) SQL() *sql.DB { return db.sql }

// Migrate applies the embedded PostgreSQL migrations of the given parts
// (migrations.EventStore, migrations.ReadModel). Several instances may migrate at once.
func (db *DB) Migrate(ctx context.Context, parts ...string) error {
	for _, part := range parts {
		if err := migrations.Apply(ctx, db.sql, migrations.Postgres, part); err != nil {
			return fmt.Errorf("migrate %s: %w", part, err)
		}
	}
	return nil
}

// Notify sends a notification on channel to every session LISTENing on it, in its
// own transaction: call it after the commit of whatever the listeners should see.
func (db *DB) Notify(ctx context.Context, channel string) error {
	if err := validChannel(channel); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	// Nothing is lost if this commit is not durable (a notification never is), so it
	// need not wait for a WAL flush; set_config(..., true) lasts for this transaction.
	_, err := db.pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')`, channel)
	if err != nil {
		return fmt.Errorf("notify %s: %w", channel, unavailable(err))
	}
	return nil
}

// Listen returns a channel that receives a value once the process LISTENs on
// channel, then after every notification on it. Several notifications may arrive as
// one value, so a receiver re-reads whatever the notification is about rather than
// counting. A value is also sent after the listening connection was lost and opened
// again, since notifications sent meanwhile are gone.
//
// All Listen calls of a DB share one dedicated connection, opened on the first call.
// The returned channel is closed when ctx is done or the DB is closed.
func (db *DB) Listen(ctx context.Context, channel string) (<-chan struct{}, error) {
	if err := validChannel(channel); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ch, err := db.listener.listen(ctx, channel)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", channel, err)
	}
	return ch, nil
}

// Close stops listening and closes the pool. Locks taken with ProjectionLock live on
// their own connections and are freed by their release functions.
func (db *DB) Close() {
	db.closeOnce.Do(func() {
		db.listener.close()
		db.sql.Close()
		db.pool.Close()
	})
}

// validChannel rejects names Postgres would truncate or refuse, since a LISTEN on a
// truncated name would silently never hear the NOTIFY on the full one.
func validChannel(channel string) error {
	switch {
	case channel == "":
		return domain.Errorf(domain.EINVALID, "empty channel name")
	case len(channel) > 63:
		return domain.Errorf(domain.EINVALID, "channel name %.20q... longer than 63 bytes", channel)
	case strings.ContainsRune(channel, 0):
		return domain.Errorf(domain.EINVALID, "channel name %q contains NUL", channel)
	}
	return nil
}
