package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/domain/origin"
)

// BearerProtocol is the WebSocket subprotocol that carries the access token: browsers
// cannot set Authorization on a WebSocket, so they offer ["bearer", token] and the
// server answers "bearer".
const BearerProtocol = "bearer"

// WebSocket serves the feed over plain WebSocket: one JSON text frame per message,
// {"id":<seq>,"event":"scan:progress","data":{...}}, the same ids as SSE, and a
// "resync" frame when a resume id cannot be honoured. The client resumes with
// ?after=<last id>.
type WebSocket struct {
	Hub          *Hub
	Heartbeat    time.Duration // default DefaultHeartbeat
	WriteTimeout time.Duration // default DefaultWriteTimeout
	// Origins are the browser origins allowed to open connections from another site,
	// as full origins ("https://app.example.com", the form of the API's CORS list);
	// "*" allows any. The server's own host is always allowed. Browsers apply no CORS
	// to WebSockets: this check is what keeps other sites' pages from opening them.
	Origins []string
	Logger  *slog.Logger // where connection problems go; default: discarded
}

// WebSocketToken returns the access token of a WebSocket handshake: from the
// Sec-WebSocket-Protocol header ("bearer, <token>"), else from the token query
// parameter. It returns "" when there is none.
func WebSocketToken(r *http.Request) string {
	var offered []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			offered = append(offered, strings.TrimSpace(p))
		}
	}
	for i, p := range offered {
		if strings.EqualFold(p, BearerProtocol) && i+1 < len(offered) {
			return offered[i+1]
		}
	}
	return r.URL.Query().Get("token")
}

// ParseAfter reads the resume id of a WebSocket handshake from the after query
// parameter. A malformed id is a domain.EINVALID error.
func ParseAfter(r *http.Request) (Resume, error) {
	return parseResume(r.URL.Query().Get("after"), "after")
}

// frame is one message on the wire.
type frame struct {
	ID    int64           `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// errWrite marks a failed write: the connection is already closed (or as good as).
var errWrite = errors.New("relay: websocket write failed")

// Close reasons a client can act on: reconnect with ?after=<last id> after either.
const (
	reasonSlow     = "client fell behind; reconnect with after=<last id>"
	reasonShutdown = "server shutting down; reconnect with after=<last id>"
)

// Serve upgrades the request and streams userID's feed (optionally one scan's) until
// the client goes away, falls behind or stops reading. The caller has authenticated
// the user before the upgrade. An error is returned only when nothing was written (the
// caller answers it); a refused upgrade (bad origin, not a WebSocket request) has been
// answered by Serve. release, when not nil, is called once when the connection ends,
// or before Serve returns.
//
// Serve returns once the connection is set up: the request's goroutine, its buffers
// and its deep stack are released, and the connection lives on in the library's
// reader, a heartbeat timer and a writer that runs only while messages wait.
func (x *WebSocket) Serve(w http.ResponseWriter, r *http.Request, userID, scanID string, resume Resume, release func()) error {
	if release == nil {
		release = func() {}
	}
	heartbeat, writeTimeout, log := orDefault(x.Heartbeat, DefaultHeartbeat), orDefault(x.WriteTimeout, DefaultWriteTimeout), orDiscard(x.Logger)
	// Browsers apply no CORS to WebSockets: refusing foreign origins here is what keeps
	// other sites' pages out, by the API's CORS rule (domain/origin).
	if !origin.New(x.Origins).AllowsConnection(r.Header.Get("Origin"), r.Host) {
		release()
		http.Error(w, "request Origin not allowed", http.StatusForbidden)
		return nil
	}
	// Subscribing before the upgrade means a client whose handshake succeeded misses
	// nothing appended afterwards, and a failure can still be an HTTP error.
	sub, ctx, cancel, err := subscribeDetached(x.Hub, r, userID, resume, scanID, release)
	if err != nil {
		return err
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Echoed only when the client offered it, as RFC 6455 requires.
		Subprotocols: []string{BearerProtocol},
		// Checked above, by the one origin rule.
		InsecureSkipVerify: true,
	})
	if err != nil {
		sub.Close()
		cancel()
		release()
		log.Debug("relay: websocket upgrade refused", "err", err)
		return nil
	}
	// The client sends nothing; reading is only to answer pings and see the close,
	// which ends the subscription.
	c.SetReadLimit(1 << 10)
	context.AfterFunc(c.CloseRead(ctx), cancel)

	// A ping waits for its pong, so it runs beside the writer (the library allows
	// that) rather than holding up messages for a round trip.
	stop := every(heartbeat, func() bool {
		pctx, done := context.WithTimeout(ctx, writeTimeout)
		defer done()
		// A ping that gets no pong in time closes the connection: a dead peer is found
		// even when there is nothing to send.
		return c.Ping(pctx) == nil
	})
	sub.Deliver(&wsWriter{c: c, timeout: writeTimeout, log: log, ctx: ctx, user: userID, end: func() { stop(); cancel(); release() }}, 0)
	return nil
}

// wsWriter is a WebSocket connection's Writer: one text frame per message, each write
// bounded by the write timeout (the library sends every message at once, so Flush
// has nothing to do).
type wsWriter struct {
	c       *websocket.Conn
	timeout time.Duration
	log     *slog.Logger
	ctx     context.Context
	user    string
	end     func()
}

func (w *wsWriter) Write(m Message) error {
	if len(m.Data) == 0 {
		m.Data = json.RawMessage("null")
	}
	buf, err := json.Marshal(frame(m))
	if err != nil {
		return fmt.Errorf("relay: encode websocket frame %d: %w", m.ID, err)
	}
	wctx, done := context.WithTimeout(w.ctx, w.timeout)
	defer done()
	// A write that cannot finish in time is a client that stopped reading; the
	// library then closes the connection.
	if err := w.c.Write(wctx, websocket.MessageText, buf); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	return nil
}

func (w *wsWriter) Flush() error     { return nil }
func (w *wsWriter) Heartbeat() error { return nil }

func (w *wsWriter) End(err error) {
	// Cancel only after closing: the reader's context is ctx, and ending it first
	// would drop the connection before the close frame could say why.
	defer w.end()
	switch {
	case errors.Is(err, ErrSlow):
		_ = w.c.Close(websocket.StatusPolicyViolation, reasonSlow)
	case errors.Is(err, ErrClosed):
		_ = w.c.Close(websocket.StatusGoingAway, reasonShutdown)
	case errors.Is(err, context.Canceled), errors.Is(err, errWrite):
		// The client left, or stopped reading: the connection is gone already.
		w.log.Debug("relay: websocket closed", "user", w.user, "err", err)
		w.c.CloseNow()
	default:
		w.log.Warn("relay: websocket stream ended", "user", w.user, "err", err)
		_ = w.c.Close(websocket.StatusInternalError, "internal error")
	}
}

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
