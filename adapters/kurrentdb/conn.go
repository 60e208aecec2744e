package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
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
// the client's internal channel, and closing the client then panics such a waiter.
// So the Store owns the client's lifecycle: every call runs in a goroutine the caller
// does not wait for past its context (guard), a closed client is replaced by a new
// one (with backoff between rebuilds), and the old one is closed, which releases any
// waiter with a panic that guard recovers.
type conn struct {
	mu        sync.Mutex
	conf      esdb.Configuration // the parsed connection string; copied for each client
	client    *esdb.Client
	dead      bool      // the client closed itself: rebuild before the next call
	rebuildAt time.Time // no rebuild before this
	backoff   time.Duration
	closed    bool // Store.Close was called
	rebuilds  int
	log       *slog.Logger
	// fault is the last error that will not heal by itself (wrong credentials, missing
	// rights, an unsupported server), by operation; readiness reports it until the same
	// operation succeeds again.
	fault map[string]error
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
	c.client = client
	return nil
}

// current returns the client to use, building a new one when the last closed itself
// and the backoff allows; otherwise the store is unavailable for now.
func (c *conn) current() (*esdb.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "event store is closed")
	}
	if !c.dead {
		return c.client, nil
	}
	if wait := time.Until(c.rebuildAt); wait > 0 {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "event store unreachable; reconnecting in %s", wait.Round(time.Millisecond))
	}
	old := c.client
	if err := c.newClient(); err != nil {
		return nil, err
	}
	// Closing the old client releases callers stuck on it (see guard).
	_ = old.Close()
	c.dead = false
	c.rebuilds++
	c.rebuildAt = time.Now().Add(c.backoff)
	c.log.Info("kurrentdb: client rebuilt after it closed itself", "rebuilds", c.rebuilds, "next_rebuild_not_before", c.backoff)
	c.backoff = min(2*c.backoff, maxRebuildDelay)
	return c.client, nil
}

// markDead records that client closed itself; the next call builds a new one.
func (c *conn) markDead(client *esdb.Client, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if client != c.client || c.dead || c.closed {
		return
	}
	c.dead = true
	c.log.Warn("kurrentdb: client closed itself after failed reconnection; it will be rebuilt", "err", err)
}

// succeeded resets the rebuild backoff and clears op's fault.
func (c *conn) succeeded(client *esdb.Client, op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if client == c.client {
		c.backoff = firstRebuildDelay
	}
	if c.fault[op] != nil {
		c.log.Info("kurrentdb: recovered", "op", op)
		delete(c.fault, op)
	}
}

// setFault records (and logs, once per change) an error that will not heal by itself.
func (c *conn) setFault(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.fault[op]; prev == nil || prev.Error() != err.Error() {
		c.log.Error("kurrentdb: request refused; this will not heal without a configuration change", "op", op, "err", err)
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

func (c *conn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.client.Close()
}

// call runs op on the current client, rebuilding a closed client and trying once more:
// "connection is closed" comes before anything is sent, so the retry cannot write
// twice. Errors come back classified (classify).
func (c *conn) call(ctx context.Context, name string, op func(ctx context.Context, client *esdb.Client) error) error {
	ctx = leaderContext(ctx)
	for attempt := 0; ; attempt++ {
		client, err := c.current()
		if err != nil {
			return err
		}
		_, err = guard(ctx, func() (struct{}, error) { return struct{}{}, op(ctx, client) })
		if err == nil {
			c.succeeded(client, name)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var wrong errWrongVersion
		if errors.As(err, &wrong) {
			return err
		}
		if closedClient(err) {
			c.markDead(client, err)
			if attempt == 0 && esdbCode(err) == esdb.ErrorCodeConnectionClosed {
				continue
			}
		}
		return c.classify(name, err)
	}
}

// leaderContext asks the cluster to serve the call from the leader. The v4 client puts
// its "requires-leader" header in the incoming context, where gRPC never sends it, so
// without this a follower would serve reads (stale for Append's idempotency check).
func leaderContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "requires-leader", "true")
}

// errClientClosed stands for the panic of a call that waited on a client being closed.
var errClientClosed = errors.New("kurrentdb client closed while the call waited")

// guard runs f so that the caller waits for it no longer than ctx: a call on a client
// whose connection goroutine has stopped would wait forever. Such a call is released
// when the client is closed, by a "send on closed channel" panic, which guard turns
// into errClientClosed; any other panic is re-raised.
func guard[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				if re, ok := r.(runtime.Error); !ok || !strings.Contains(re.Error(), "closed channel") {
					panic(r)
				}
				done <- result{err: errClientClosed}
			}
		}()
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
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
