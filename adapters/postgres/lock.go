package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/scanledger/scanledger/projections"
)

// A held lock's connection is checked this often, and given this long to answer: how
// long another instance may go on believing it holds a lock the server already freed
// (its session died) before its runner stops.
const (
	lockCheckInterval = time.Second
	lockCheckTimeout  = 5 * time.Second
)

// ProjectionLock returns the lock that lets one instance at a time run the projection
// called name: a session-level advisory lock taken on a connection of its own, kept
// outside the pool because the lock lives exactly as long as that session.
//
// The LockFunc blocks until the lock is held or ctx is done. The held context it
// returns is cancelled (with the reason as its cause) when the connection stops
// answering, because the server frees a dead session's locks and another instance may
// take over at once; release unlocks and closes the connection.
func (db *DB) ProjectionLock(name string) projections.LockFunc {
	key := lockKey(name)
	return func(ctx context.Context) (context.Context, func(), error) {
		cfg := db.pool.Config().ConnConfig.Copy()
		// A cancelled wait must end in the server too: otherwise the abandoned session
		// would still be queued for the lock and take it, briefly, from the next
		// instance in line.
		cfg.BuildContextWatcherHandler = func(pgConn *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pgConn, DeadlineDelay: time.Second}
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("projection lock %s: connect: %w", name, unavailable(err))
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			closeConn(ctx, conn)
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, nil, fmt.Errorf("projection lock %s: %w", name, unavailable(err))
		}
		held, lose := context.WithCancelCause(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			keepLock(held, lose, conn, name, key)
		}()
		var once sync.Once
		release := func() {
			once.Do(func() {
				lose(fmt.Errorf("projection lock %s released", name))
				<-done
			})
		}
		return held, release, nil
	}
}

// keepLock checks the lock's connection until held ends, then frees the lock.
func keepLock(held context.Context, lose context.CancelCauseFunc, conn *pgx.Conn, name string, key int64) {
	defer closeConn(held, conn) // ending the session frees the lock in any case
	t := time.NewTicker(lockCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-held.Done():
			// Unlock explicitly: the server frees a closed session's locks only once it
			// notices the socket closed, and the next instance is waiting.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(held), lockCheckTimeout)
			_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
			cancel()
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(held, lockCheckTimeout)
			err := conn.Ping(ctx)
			cancel()
			if err != nil && held.Err() == nil {
				lose(fmt.Errorf("projection lock %s lost: %w", name, err))
				return
			}
		}
	}
}

// lockKey maps a projection name to an advisory lock key. FNV-1a is fixed forever, so
// instances of different builds agree on the key; the prefix keeps projection keys
// apart from any other advisory lock a name could hash to.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("scanledger/projection/" + name))
	return int64(h.Sum64())
}

// TryProjectionLock takes the lock ProjectionLock takes, if no one holds it: ok is false
// while a server's runner of that projection is running (on any instance). It is for
// commands that must not run beside the projection, such as an in-place rebuild;
// release frees it.
func (db *DB) TryProjectionLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("projection lock %s: %w", name, unavailable(err))
	}
	key := lockKey(name)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		conn.Release()
		if err != nil {
			return nil, false, fmt.Errorf("projection lock %s: %w", name, unavailable(err))
		}
		return nil, false, nil
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
		conn.Release()
	}, true, nil
}
