package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"
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
	hub *Hub
	opt options
}

// NewWebSocket returns the WebSocket transport.
func NewWebSocket(hub *Hub, opts ...Option) *WebSocket {
	return &WebSocket{hub: hub, opt: newOptions(opts)}
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

// errWrite marks a failed write: the connection is already closed.
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
// answered by Serve.
//
// Serve returns once the connection is set up: the request's goroutine, its buffers
// and its deep stack are released, and the connection lives on in the library's
// reader, a heartbeat timer and a writer that runs only while messages wait.
func (x *WebSocket) Serve(w http.ResponseWriter, r *http.Request, userID, scanID string, resume Resume) error {
	// Browsers apply no CORS to WebSockets: refusing foreign origins here is what keeps
	// other sites' pages out, by the API's CORS rule (domain/origin).
	if !x.opt.origins.AllowsConnection(r.Header.Get("Origin"), r.Host) {
		http.Error(w, "request Origin not allowed", http.StatusForbidden)
		return nil
	}
	// The request's context ends when Serve returns; the connection's must not.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	// Subscribing before the upgrade means a client whose handshake succeeded misses
	// nothing appended afterwards, and a failure can still be an HTTP error.
	sub, err := x.hub.Subscribe(ctx, userID, resume, scanID)
	if err != nil {
		cancel()
		return err
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Echoed only when the client offered it, as RFC 6455 requires.
		Subprotocols: []string{BearerProtocol},
		// Checked above, by the one origin rule.
		InsecureSkipVerify: true,
	})
	if err != nil {
		cancel()
		x.opt.log.Debug("relay: websocket upgrade refused", "err", err)
		return nil
	}
	// The client sends nothing; reading is only to answer pings and see the close,
	// which ends the subscription.
	c.SetReadLimit(1 << 10)
	context.AfterFunc(c.CloseRead(ctx), cancel)

	stop := every(x.opt.heartbeat, func() bool {
		pctx, done := context.WithTimeout(ctx, x.opt.writeTimeout)
		defer done()
		// A ping that gets no pong in time closes the connection: a dead peer is found
		// even when there is nothing to send.
		return c.Ping(pctx) == nil
	})
	sub.Deliver(func(m Message) error {
		if len(m.Data) == 0 {
			m.Data = json.RawMessage("null")
		}
		buf, err := json.Marshal(frame(m))
		if err != nil {
			return fmt.Errorf("relay: encode websocket frame %d: %w", m.ID, err)
		}
		wctx, done := context.WithTimeout(ctx, x.opt.writeTimeout)
		defer done()
		// A write that cannot finish in time is a client that stopped reading; the
		// library then closes the connection.
		if err := c.Write(wctx, websocket.MessageText, buf); err != nil {
			return fmt.Errorf("%w: %w", errWrite, err)
		}
		return nil
	}, func(err error) {
		stop()
		// Cancel only after closing: the reader's context is ctx, and ending it first
		// would drop the connection before the close frame could say why.
		defer cancel()
		switch {
		case errors.Is(err, ErrSlow):
			_ = c.Close(websocket.StatusPolicyViolation, reasonSlow)
		case errors.Is(err, ErrClosed):
			_ = c.Close(websocket.StatusGoingAway, reasonShutdown)
		case errors.Is(err, context.Canceled), errors.Is(err, errWrite):
			// The client left, or stopped reading: the connection is gone already.
			x.opt.log.Debug("relay: websocket closed", "user", userID, "err", err)
			c.CloseNow()
		default:
			x.opt.log.Warn("relay: websocket stream ended", "user", userID, "err", err)
			_ = c.Close(websocket.StatusInternalError, "internal error")
		}
	})
	return nil
}
