package relay

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/scanledger/scanledger/domain"
)

// SSE serves Server-Sent Events with r3labs/sse, configured so that it cannot leak or
// lose events: AutoReplay off (replay comes from user_feed, not from a per-process
// memory log), one r3labs stream per connection named by us (never by the query
// string), ids are feed sequences, and Last-Event-ID is read by us.
type SSE struct {
	hub       *Hub
	srv       *sse.Server
	heartbeat time.Duration

	mu         sync.Mutex
	registered map[string]chan struct{}
}

// NewSSE returns the SSE transport. heartbeat is the interval of comment frames that
// keep proxies from closing idle streams (default 15 s).
func NewSSE(hub *Hub, heartbeat time.Duration) *SSE {
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	x := &SSE{hub: hub, heartbeat: heartbeat, registered: map[string]chan struct{}{}}
	x.srv = sse.NewWithCallback(x.onSubscribe, nil)
	x.srv.AutoReplay = false
	x.srv.AutoStream = false
	x.srv.BufferSize = 16
	x.srv.Headers = map[string]string{
		"X-Accel-Buffering": "no", // nginx: do not buffer the stream
		"Cache-Control":     "no-cache, no-transform",
	}
	return x
}

// Close ends every stream.
func (x *SSE) Close() { x.srv.Close() }

func (x *SSE) onSubscribe(streamID string, _ *sse.Subscriber) {
	x.mu.Lock()
	ch := x.registered[streamID]
	x.mu.Unlock()
	if ch != nil {
		close(ch)
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
	if v == "" {
		return Resume{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return Resume{}, domain.Errorf(domain.EINVALID, "Last-Event-ID must be a non-negative integer")
	}
	return Resume{After: n, Set: true}, nil
}

// Serve streams userID's feed (optionally one scan's) to the client until it goes
// away or falls behind. The caller has authenticated the user; nothing in the request
// can choose another user's stream.
func (x *SSE) Serve(w http.ResponseWriter, r *http.Request, userID, scanID string, resume Resume) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sub, err := x.hub.Subscribe(ctx, userID, resume, scanID)
	if err != nil {
		return err
	}
	defer sub.Close()

	id := domain.NewID()
	reg := make(chan struct{})
	x.mu.Lock()
	x.registered[id] = reg
	x.mu.Unlock()
	x.srv.CreateStream(id)
	defer func() {
		x.srv.RemoveStream(id)
		x.mu.Lock()
		delete(x.registered, id)
		x.mu.Unlock()
	}()

	r2 := r.Clone(ctx)
	r2.Header.Del("Last-Event-ID") // handled above; r3labs would try to replay from it
	r2.URL.RawQuery = "stream=" + id
	rc := http.NewResponseController(w)

	go x.pump(ctx, cancel, sub, id, reg, rc)
	x.srv.ServeHTTP(w, r2)
	return nil
}

// pump moves messages from the subscription into this connection's r3labs stream. A
// full stream means the client is not reading: end the connection (it will reconnect
// and resume) rather than block.
func (x *SSE) pump(ctx context.Context, cancel context.CancelFunc, sub *Subscription, id string, reg chan struct{}, rc *http.ResponseController) {
	kick := func() {
		cancel()
		// Unblock a write stuck on a client that stopped reading.
		_ = rc.SetWriteDeadline(time.Now())
	}
	select {
	case <-reg:
	case <-ctx.Done():
		return
	}
	hb := time.NewTicker(x.heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-sub.C():
			if !ok {
				kick()
				return
			}
			ev := &sse.Event{ID: []byte(strconv.FormatInt(m.ID, 10)), Event: []byte(m.Event), Data: m.Data}
			if !x.srv.TryPublish(id, ev) {
				kick()
				return
			}
		case <-hb.C:
			if !x.srv.TryPublish(id, &sse.Event{Comment: []byte("heartbeat")}) {
				kick()
				return
			}
		}
	}
}
