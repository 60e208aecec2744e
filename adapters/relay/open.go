package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/scanledger/scanledger/domain"
)

// Stream serves userID's updates (one scan's when scanID is set) on one request. The
// HTTP layer calls it once it has authenticated and admitted the client. The stream
// outlives the call (the transport takes the connection over): release, when not nil,
// is called once when it ends, or before an error is returned.
type Stream = func(w http.ResponseWriter, r *http.Request, userID, scanID string, release func()) error

// Open reads where an SSE request resumes (ParseLastEventID) and returns the stream that
// serves from there: the HTTP layer checks the request before admitting the client,
// without knowing relay's types.
func (x *SSE) Open(r *http.Request) (Stream, error) { return openAt(r, ParseLastEventID, x.Serve) }

// Open reads where a WebSocket handshake resumes (ParseAfter) and returns the stream
// that serves from there.
func (x *WebSocket) Open(r *http.Request) (Stream, error) { return openAt(r, ParseAfter, x.Serve) }

// openAt reads where r resumes with parse and returns the stream that serve serves
// from there.
func openAt(r *http.Request, parse func(*http.Request) (Resume, error),
	serve func(w http.ResponseWriter, r *http.Request, userID, scanID string, resume Resume, release func()) error) (Stream, error) {
	resume, err := parse(r)
	if err != nil {
		return nil, err
	}
	return func(w http.ResponseWriter, r *http.Request, userID, scanID string, release func()) error {
		return unavailableWhenClosed(serve(w, r, userID, scanID, resume, release))
	}, nil
}

// Token is WebSocketToken: a browser cannot set Authorization on a WebSocket.
func (x *WebSocket) Token(r *http.Request) string { return WebSocketToken(r) }

// subscribeDetached subscribes a stream that outlives its request: the request's
// context ends when Serve returns, and the transport takes the connection over. The
// returned ctx ends with cancel only. On error, cancel and release have been called.
func subscribeDetached(h *Hub, r *http.Request, userID string, resume Resume, scanID string, release func()) (*Subscription, context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	sub, err := h.Subscribe(ctx, userID, resume, scanID)
	if err != nil {
		cancel()
		release()
		return nil, nil, nil, err
	}
	return sub, ctx, cancel, nil
}

// unavailableWhenClosed makes a hub that is shutting down EUNAVAILABLE, so clients retry
// elsewhere or later instead of reporting a server bug.
func unavailableWhenClosed(err error) error {
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", domain.Errorf(domain.EUNAVAILABLE, "Live updates are shutting down"), err)
	}
	return err
}
