package relay

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/scanledger/scanledger/domain"
)

// SSE serves Server-Sent Events with r3labs/sse, configured so that it cannot leak or
// lose events: AutoReplay off (replay comes from user_feed, not from a per-process
// memory log), one r3labs stream per connection named by us (never by the query
// string), ids are feed sequences, and Last-Event-ID is read by us.
type SSE struct {
	hub *Hub
	srv *sse.Server
	opt options
	// closed ends every stream when Close is called.
	closed   context.Context
	closeAll context.CancelFunc

	mu sync.Mutex
	// starts holds, per stream, what to run once r3labs has registered the
	// connection's subscriber: it drops events published before that.
	starts map[string]func()
}

// NewSSE returns the SSE transport. heartbeat is the interval of comment frames that
// keep proxies from closing idle streams (default 15 s); it overrides WithHeartbeat.
func NewSSE(hub *Hub, heartbeat time.Duration, opts ...Option) *SSE {
	x := &SSE{hub: hub, opt: newOptions(append(opts, WithHeartbeat(heartbeat))), starts: map[string]func(){}}
	x.closed, x.closeAll = context.WithCancel(context.Background())
	x.srv = sse.NewWithCallback(x.onSubscribe, nil)
	x.srv.AutoReplay = false
	x.srv.AutoStream = false
	x.srv.BufferSize = 16
	// A payload with a line break would otherwise end the data field early.
	x.srv.SplitData = true
	x.srv.Headers = map[string]string{
		"X-Accel-Buffering": "no", // nginx: do not buffer the stream
		"Cache-Control":     "no-cache, no-transform",
	}
	return x
}

// Close ends every stream, the way a hub shutdown does (clients reconnect and resume
// elsewhere), and refuses new ones with ErrClosed. Closing r3labs' server instead
// would strand a goroutine of every stream.
func (x *SSE) Close() { x.closeAll() }

func (x *SSE) onSubscribe(streamID string, _ *sse.Subscriber) {
	x.mu.Lock()
	start := x.starts[streamID]
	delete(x.starts, streamID)
	x.mu.Unlock()
	if start != nil {
		start()
	}
}

// ParseLastEventID reads a resume id from the Last-Event-ID header, or the lastEventId
// query parameter for a first connection (EventSource cannot set headers). A malformed
// id is a domain.EINVALID error.
func ParseLastEventID(r *http.Request) (Resume, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("lastEventId")
	}
	return parseResume(v, "Last-Event-ID")
}

func parseResume(v, name string) (Resume, error) {
	if v == "" {
		return Resume{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return Resume{}, domain.Errorf(domain.EINVALID, "%s must be a non-negative integer", name)
	}
	return Resume{After: n, Set: true}, nil
}

// Serve streams userID's feed (optionally one scan's) to the client until it goes
// away or falls behind. The caller has authenticated the user; nothing in the request
// can choose another user's stream. An error is returned only before the response
// started.
func (x *SSE) Serve(w http.ResponseWriter, r *http.Request, userID, scanID string, resume Resume) error {
	if x.closed.Err() != nil {
		return ErrClosed
	}
	sub, err := x.hub.Subscribe(r.Context(), userID, resume, scanID)
	if err != nil {
		return err
	}
	defer sub.Close()
	defer context.AfterFunc(x.closed, func() { sub.fail(ErrClosed) })()

	// r3labs serves the stream until its request's context ends: make that the
	// subscription's, which ends with the client, the hub, or a kick. A shallow copy:
	// a deep one costs a kilobyte per connection for headers nobody reads again.
	id := domain.NewID()
	r2 := r.WithContext(sub.ctx)
	r2.Header.Del("Last-Event-ID") // handled above; r3labs would try to replay from it
	r2.URL = &url.URL{Path: r.URL.Path, RawQuery: "stream=" + id}
	rc := http.NewResponseController(w)

	// kick ends the stream from any goroutine. Once Serve returns, the connection may
	// serve another request, so kick must not touch its deadline any more.
	cw := &deadlineWriter{ResponseWriter: w, rc: rc, timeout: x.opt.writeTimeout}
	var kickMu sync.Mutex
	finished := false
	kick := func() {
		kickMu.Lock()
		defer kickMu.Unlock()
		if finished {
			return
		}
		sub.fail(errKicked)
		cw.dead.Store(true)
		// Unblock a write stuck on a client that stopped reading.
		_ = rc.SetWriteDeadline(time.Now())
	}
	cw.fail = kick
	defer func() {
		kickMu.Lock()
		finished = true
		kickMu.Unlock()
		_ = rc.SetWriteDeadline(time.Time{})
	}()

	x.mu.Lock()
	x.starts[id] = func() { x.deliver(sub, id, kick) }
	x.mu.Unlock()
	x.srv.CreateStream(id)
	defer func() {
		x.srv.RemoveStream(id)
		x.mu.Lock()
		delete(x.starts, id)
		x.mu.Unlock()
	}()
	x.srv.ServeHTTP(cw, r2)
	return nil
}

// deliver moves messages from the subscription into this connection's r3labs stream,
// and beats the heartbeat. A full stream means the client is not reading: end the
// connection (it will reconnect and resume) rather than block.
func (x *SSE) deliver(sub *Subscription, id string, kick func()) {
	// A first frame at once: clients (r3labs' own among them) and proxies see that the
	// stream is open without waiting for an event or the first heartbeat.
	if !x.publish(sub.ctx, id, &sse.Event{Comment: []byte("connected")}) {
		kick()
		return
	}
	stop := every(x.opt.heartbeat, func() bool {
		if sub.Err() != nil {
			return false
		}
		if !x.srv.TryPublish(id, &sse.Event{Comment: []byte("heartbeat")}) {
			kick()
			return false
		}
		return true
	})
	sub.Deliver(func(m Message) error {
		data := []byte(m.Data)
		if len(data) == 0 {
			data = []byte("null") // r3labs ends the stream on an event without data
		}
		ev := &sse.Event{ID: []byte(strconv.FormatInt(m.ID, 10)), Event: []byte(m.Event), Data: data}
		if !x.publish(sub.ctx, id, ev) {
			return errStreamFull
		}
		return nil
	}, func(error) {
		stop()
		kick()
	})
}

// publish hands ev to the connection's r3labs stream, waiting up to the write timeout
// for room. A resume replays its backlog far faster than the writer drains the
// stream's small buffer, so a full buffer for a moment is normal (treating it as a slow
// client kicked every resuming client with a backlog before its first event); only a
// buffer that stays full for the write timeout means the client stopped reading.
func (x *SSE) publish(ctx context.Context, id string, ev *sse.Event) bool {
	if x.srv.TryPublish(id, ev) {
		return true
	}
	deadline := time.NewTimer(x.opt.writeTimeout)
	defer deadline.Stop()
	retry := time.NewTicker(2 * time.Millisecond)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-retry.C:
			if x.srv.TryPublish(id, ev) {
				return true
			}
		}
	}
}

// Errors that end an SSE stream.
var (
	errKicked     = errors.New("relay: stream ended")
	errStreamFull = errors.New("relay: client is not reading its stream")
)

// deadlineWriter bounds every write r3labs makes and ends the stream when one fails:
// r3labs ignores write errors and would otherwise keep a dead stream open, and would
// write what it still has queued, each write waiting for the timeout again.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	fail    func()
	dead    atomic.Bool
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.dead.Load() {
		return 0, errKicked
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.ResponseWriter.Write(p)
	if err != nil {
		w.fail()
	}
	return n, err
}

func (w *deadlineWriter) Flush() {
	if w.dead.Load() {
		return
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	if err := w.rc.Flush(); err != nil {
		w.fail()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// every runs f every d until f returns false or stop is called. It holds no goroutine
// between runs, which matters at ten thousand connections.
func every(d time.Duration, f func() bool) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	t = time.AfterFunc(d, func() {
		if !f() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Reset(d)
		}
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}
