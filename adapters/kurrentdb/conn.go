package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scanledger/scanledger/domain"
)

// The v4 client gives up for good after a short outage: when its node discovery fails
// (10 attempts by default, about a second for "connection refused"), it marks itself
// closed, stops the goroutine that hands out connections and fails every later call
// with "connection is closed". A caller that raced with that stop waits forever on
// the client's internal channel, and closing the client then panics such a waiter
// (a send on a closed channel). So the Store owns the client's lifecycle:
//   - every call runs in a goroutine of its own that the caller stops waiting for when
//     its context ends or when the client is found dead (guard);
//   - a client found dead is replaced by a new one, with backoff between rebuilds, and
//     is never closed: that would panic the calls still stuck on it. They stay parked
//     (a goroutine each, only those that raced with the client's death), and so does
//     the dead client's gRPC connection, which the v4 client itself leaks.
type conn struct {
	mu        sync.Mutex
	conf      esdb.Configuration // the parsed connection string; copied for each client
	cur       *clientRef
	rebuildAt time.Time // no rebuild before this
	backoff   time.Duration
	closed    bool // Store.Close was called
	rebuilds  int
	log       func() *slog.Logger
	// fault is the last error that will not heal by itself (wrong credentials, missing
	// rights, an unsupported server), by operation; readiness reports it until the same
	// operation succeeds again.
	fault map[string]error
}

// clientRef is one v4 client and what the Store knows about it.
type clientRef struct {
	*esdb.Client
	owner    *conn
	dead     chan struct{} // closed when the client is found closed: waiters give up
	isDead   bool
	cause    error        // why it closed; set before dead is closed, read after
	inflight atomic.Int64 // guarded calls running on it, for Close
}

const (
	firstRebuildDelay = 500 * time.Millisecond
	maxRebuildDelay   = 30 * time.Second
)

func (c *conn) newClient() error {
	conf := c.conf
	client, err := esdb.NewClient(&conf)
	if err != nil {
		return fmt.Errorf("open kurrentdb: %w", err)
	}
	c.cur = &clientRef{Client: client, owner: c, dead: make(chan struct{})}
	return nil
}

// current returns the client to use, building a new one when the last closed itself
// and the backoff allows; otherwise the store is unavailable for now.
func (c *conn) current() (*clientRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "event store is closed")
	}
	if !c.cur.isDead {
		return c.cur, nil
	}
	if wait := time.Until(c.rebuildAt); wait > 0 {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "event store unreachable; reconnecting in %s", wait.Round(time.Millisecond))
	}
	if err := c.newClient(); err != nil {
		return nil, err
	}
	c.rebuilds++
	c.rebuildAt = time.Now().Add(c.backoff)
	c.log().Info("kurrentdb: client rebuilt after it closed itself", "rebuilds", c.rebuilds, "next_rebuild_not_before", c.backoff)
	c.backoff = min(2*c.backoff, maxRebuildDelay)
	return c.cur, nil
}

// markDead records that client closed itself; the next call builds a new one.
func (c *conn) markDead(client *clientRef, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if client.isDead {
		return
	}
	client.isDead = true
	client.cause = err
	close(client.dead)
	if client == c.cur && !c.closed {
		c.log().Warn("kurrentdb: client closed itself after failed reconnection; it will be rebuilt", "err", err)
	}
}

// succeeded resets the rebuild backoff and clears op's fault.
func (c *conn) succeeded(client *clientRef, op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if client == c.cur {
		c.backoff = firstRebuildDelay
	}
	if c.fault[op] != nil {
		c.log().Info("kurrentdb: recovered", "op", op)
		delete(c.fault, op)
	}
}

// setFault records (and logs, once per change) an error that will not heal by itself.
func (c *conn) setFault(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.fault[op]; prev == nil || prev.Error() != err.Error() {
		c.log().Error("kurrentdb: request refused; this will not heal without a configuration change", "op", op, "err", err)
	}
	c.fault[op] = err
}

func (c *conn) faults() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for op, err := range c.fault {
		return fmt.Errorf("kurrentdb %s: %w", op, err)
	}
	return nil
}

// close refuses new calls, lets the calls in flight end (callers cancel theirs on
// shutdown) and closes a live client; closing under a running call would race with it.
func (c *conn) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cur := c.cur
	c.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); cur.inflight.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if cur.isClosed() {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("close kurrentdb: calls still running; client left open")
		}
	}
	if cur.isClosed() {
		return nil
	}
	return cur.Close()
}

func (r *clientRef) isClosed() bool {
	select {
	case <-r.dead:
		return true
	default:
		return false
	}
}

// do runs op on the current client, rebuilding a closed client and trying once more:
// "connection is closed" comes before anything is sent, so the retry cannot write
// twice. Errors come back classified (classify). op's result travels through guard,
// never through captured variables: op may still run after do has returned.
func do[T any](ctx context.Context, c *conn, name string, op func(ctx context.Context, client *esdb.Client) (T, error)) (T, error) {
	ctx = leaderContext(ctx)
	var zero T
	for attempt := 0; ; attempt++ {
		client, err := c.current()
		if err != nil {
			return zero, err
		}
		v, err := guard(ctx, client, func() (T, error) { return op(ctx, client.Client) })
		if err == nil {
			c.succeeded(client, name)
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		var wrong errWrongVersion
		if errors.As(err, &wrong) {
			return zero, err
		}
		if closedClient(err) {
			c.markDead(client, err)
			if attempt == 0 && esdbCode(err) == esdb.ErrorCodeConnectionClosed {
				continue
			}
		}
		return zero, c.classify(name, err)
	}
}

// leaderContext asks the cluster to serve the call from the leader. The v4 client puts
// its "requires-leader" header in the incoming context, where gRPC never sends it, so
// without this a follower would serve reads (stale for Append's idempotency check).
func leaderContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "requires-leader", "true")
}

// errClientClosed: the call waited on a client that was found dead meanwhile.
var errClientClosed = errors.New("kurrentdb client closed itself while the call waited")

// waitedOnDead is errClientClosed with the error that killed the client, so that every
// call caught by the death reports its reason (an unreadable server version, say), not
// only the call that happened to hit it. The cause is kept as text only: its codes
// (connection closed) describe another call, and must not make do retry this one.
type waitedOnDead struct{ cause error }

func (e waitedOnDead) Error() string {
	if e.cause == nil {
		return errClientClosed.Error()
	}
	return errClientClosed.Error() + ": " + e.cause.Error()
}

func (e waitedOnDead) Is(target error) bool { return target == errClientClosed }

// guard runs f, a call on client, so that the caller waits for it no longer than ctx,
// nor past the client's death: a call on a client whose connection goroutine has
// stopped would wait forever.
func guard[T any](ctx context.Context, client *clientRef, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	client.inflight.Add(1)
	go func() {
		defer client.inflight.Add(-1)
		v, err := f()
		// The result goes out before the client is marked dead: the caller, woken by
		// either, then finds its own result and reports the real error rather than
		// the death it caused. done has room, so this never blocks.
		done <- result{v, err}
		if err != nil && closedClient(err) {
			// Even when the caller has gone: the calls parked behind this one wait
			// for the news.
			client.owner.markDead(client, err)
		}
	}()
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-client.dead:
		select {
		case r := <-done:
			return r.v, r.err
		default:
			return zero, waitedOnDead{client.cause}
		}
	}
}

// closedClient reports whether err says the client has closed itself: "connection is
// closed", the discovery failure that closes it, or a call released by Close.
func closedClient(err error) bool {
	return errors.Is(err, errClientClosed) ||
		esdbCode(err) == esdb.ErrorCodeConnectionClosed ||
		strings.Contains(err.Error(), "maximum discovery attempt count reached")
}

// classify turns a client error into a domain error: the server's size limits are
// ETOOLARGE, a deleted stream ECONFLICT, and everything that is KurrentDB not serving
// us EUNAVAILABLE (503), with refusals that will not heal (credentials, rights, an
// unsupported server) also recorded as a fault for readiness and logged.
func (c *conn) classify(op string, err error) error {
	st := grpcStatus(err)
	msg := st.Message()
	switch {
	case esdbCode(err) == esdb.ErrorCodeStreamDeleted || st.Code() == codes.FailedPrecondition && strings.Contains(msg, "is deleted"):
		return domain.Errorf(domain.ECONFLICT, "the stream was deleted in the event store")
	case st.Code() == codes.InvalidArgument && (strings.Contains(msg, "Maximum Append Size") || strings.Contains(msg, "Maximum Append Event Size")):
		return fmt.Errorf("%w (%s)", domain.Errorf(domain.ETOOLARGE, "the events are larger than the event store accepts in one append"), msg)
	case esdbCode(err) == esdb.ErrorCodeAccessDenied || st.Code() == codes.PermissionDenied:
		err = fmt.Errorf("%w (%v)", domain.Errorf(domain.EUNAVAILABLE, "the event store denied access: the user lacks rights"), err)
		c.setFault(op, err)
		return refusal{err}
	case esdbCode(err) == esdb.ErrorCodeUnauthenticated || st.Code() == codes.Unauthenticated:
		err = fmt.Errorf("%w (%v)", domain.Errorf(domain.EUNAVAILABLE, "the event store rejected our credentials"), err)
		c.setFault(op, err)
		return refusal{err}
	case strings.Contains(err.Error(), "server version format"):
		err = fmt.Errorf("%w (%v)", domain.Errorf(domain.EUNAVAILABLE, "the event store's version cannot be read by this client"), err)
		c.setFault(op, err)
		return refusal{err}
	case st.Code() == codes.InvalidArgument:
		// The server found our request malformed: a bug on our side, not the user's.
		return fmt.Errorf("kurrentdb rejected the request: %w", err)
	}
	return fmt.Errorf("%w (%v)", domain.Errorf(domain.EUNAVAILABLE, "event store unavailable"), err)
}

// refusal marks a classified error that will not heal by retrying the same request.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// permanent reports whether a classified error will not heal by retrying.
func permanent(err error) bool {
	var r refusal
	return errors.As(err, &r) || domain.ErrorCode(err) != domain.EUNAVAILABLE
}

// grpcStatus digs the gRPC status out of a client error; the client's *esdb.Error has
// no Unwrap, so errors.As cannot reach it.
func grpcStatus(err error) *status.Status {
	var e *esdb.Error
	if errors.As(err, &e) && e.Err() != nil {
		err = e.Err()
	}
	st, _ := status.FromError(err)
	return st
}

// esdbCode digests the client's error; it wraps its *esdb.Error in fmt errors.
func esdbCode(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return esdb.ErrorCodeUnknown
}
