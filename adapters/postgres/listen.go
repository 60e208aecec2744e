package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/scanledger/scanledger/domain/backoff"
)

// Reconnect pauses of the listening connection: short enough that a restarted server
// is heard again within seconds, capped so a long outage costs one attempt per cap.
const (
	listenFirstBackoff = 100 * time.Millisecond
	listenMaxBackoff   = 5 * time.Second
)

// listener multiplexes every Listen of a DB over one dedicated connection, outside
// the pool: a LISTENing session must stay open and idle, which a pooled connection
// never is. A goroutine owns the connection; it LISTENs on the channels anybody asked
// for, hands notifications out, and reconnects when the connection dies.
type listener struct {
	cfg     *pgx.ConnConfig
	onError func(error)

	ctx    context.Context // the listener's life; cancelled by close
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has ended

	mu      sync.Mutex
	subs    map[string]map[chan struct{}]struct{} // channel -> receivers
	active  map[string]bool                       // channels LISTENed on the current connection
	changed bool                                  // subs gained or lost a channel since the last sync
	// interrupt ends the goroutine's current wait for a notification, so that it
	// LISTENs on a new channel at once; nil when it is not waiting.
	interrupt context.CancelFunc
	started   bool
	closed    bool
}

func newListener(cfg *pgx.ConnConfig, onError func(error)) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		cfg:     cfg.Copy(),
		onError: onError,
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		subs:    map[string]map[chan struct{}]struct{}{},
		active:  map[string]bool{},
	}
}

func (l *listener) listen(ctx context.Context, channel string) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("database closed")
	}
	set, ok := l.subs[channel]
	if !ok {
		set = map[chan struct{}]struct{}{}
		l.subs[channel] = set
	}
	set[ch] = struct{}{}
	if l.active[channel] {
		wake(ch) // already LISTENing: every later NOTIFY reaches ch
	} else {
		l.changed = true
		if l.interrupt != nil {
			l.interrupt()
		}
	}
	if !l.started {
		l.started = true
		go l.run()
	}
	context.AfterFunc(ctx, func() { l.remove(channel, ch) })
	return ch, nil
}

func (l *listener) remove(channel string, ch chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	set := l.subs[channel]
	if _, ok := set[ch]; !ok {
		return // closed by close already
	}
	delete(set, ch)
	close(ch)
	if len(set) == 0 {
		delete(l.subs, channel)
		l.changed = true
		if l.interrupt != nil {
			l.interrupt()
		}
	}
}

func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	for _, set := range l.subs {
		for ch := range set {
			close(ch)
		}
	}
	clear(l.subs)
	started := l.started
	l.mu.Unlock()
	l.cancel()
	if started {
		<-l.done
	}
}

// wake sends without blocking: a value already pending says the same thing.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run keeps a listening session open until close, reconnecting with capped, jittered
// backoff.
func (l *listener) run() {
	defer close(l.done)
	reconnect := backoff.Policy{First: listenFirstBackoff, Max: listenMaxBackoff}
	pause := time.Duration(0)
	for {
		connected, err := l.session()
		l.mu.Lock()
		clear(l.active)
		l.mu.Unlock()
		if l.ctx.Err() != nil {
			return
		}
		l.onError(fmt.Errorf("listen: %w", err))
		if connected {
			pause = 0 // the server was up a moment ago: try again soon
		}
		pause = reconnect.Next(pause)
		if backoff.Sleep(l.ctx, backoff.Jitter(pause)) != nil {
			return
		}
	}
}

// session opens a connection, LISTENs and delivers notifications until the connection
// fails or the listener is closed. connected reports whether it got that far.
func (l *listener) session() (connected bool, err error) {
	conn, err := pgx.ConnectConfig(l.ctx, l.cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer closeConn(l.ctx, conn)
	for {
		if err := l.sync(conn); err != nil {
			return true, err
		}
		waitCtx, cancel := context.WithCancel(l.ctx)
		l.mu.Lock()
		if l.changed {
			l.mu.Unlock()
			cancel()
			continue
		}
		l.interrupt = cancel
		l.mu.Unlock()

		n, err := conn.WaitForNotification(waitCtx)

		l.mu.Lock()
		l.interrupt = nil
		l.mu.Unlock()
		interrupted := waitCtx.Err() != nil
		cancel()
		switch {
		case l.ctx.Err() != nil:
			return true, l.ctx.Err()
		case err != nil && interrupted:
			// Asked to LISTEN on a new channel. pgx keeps the connection usable: a
			// cancelled wait only times out the read.
			continue
		case err != nil:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		l.deliver(n.Channel)
	}
}

// sync makes the connection LISTEN on exactly the channels that have receivers, and
// wakes the receivers of each channel it starts listening on.
func (l *listener) sync(conn *pgx.Conn) error {
	l.mu.Lock()
	l.changed = false
	var add, drop []string
	for channel := range l.subs {
		if !l.active[channel] {
			add = append(add, channel)
		}
	}
	for channel := range l.active {
		if _, ok := l.subs[channel]; !ok {
			drop = append(drop, channel)
			// Inactive before the UNLISTEN, so that a Listen arriving meanwhile asks
			// for another sync instead of trusting a LISTEN about to end.
			delete(l.active, channel)
		}
	}
	l.mu.Unlock()

	for _, channel := range drop {
		if _, err := conn.Exec(l.ctx, "UNLISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return fmt.Errorf("unlisten %s: %w", channel, err)
		}
	}
	for _, channel := range add {
		if _, err := conn.Exec(l.ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", channel, err)
		}
		l.mu.Lock()
		l.active[channel] = true
		for ch := range l.subs[channel] {
			wake(ch) // listening now (again): whatever came before was missed
		}
		l.mu.Unlock()
	}
	return nil
}

func (l *listener) deliver(channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs[channel] {
		wake(ch)
	}
}

// closeConn closes a dedicated connection, giving the goodbye a moment even when the
// context that owned the connection is already done.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the socket is closed whatever the reply
}
