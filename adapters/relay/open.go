package relay

import (
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
func (x *SSE) Open(r *http.Request) (Stream, error) {
	resume, err := ParseLastEventID(r)
	if err != nil {
		return nil, err
	}
	return func(w http.ResponseWriter, r *http.Request, userID, scanID string, release func()) error {
		return unavailableWhenClosed(x.Serve(w, r, userID, scanID, resume, release))
	}, nil
}

// Open reads where a WebSocket handshake resumes (ParseAfter) and returns the stream
// that serves from there.
func (x *WebSocket) Open(r *http.Request) (Stream, error) {
	resume, err := ParseAfter(r)
	if err != nil {
		return nil, err
	}
	return func(w http.ResponseWriter, r *http.Request, userID, scanID string, release func()) error {
		return unavailableWhenClosed(x.Serve(w, r, userID, scanID, resume, release))
	}, nil
}

// Token is WebSocketToken: a browser cannot set Authorization on a WebSocket.
func (x *WebSocket) Token(r *http.Request) string { return WebSocketToken(r) }

// unavailableWhenClosed makes a hub that is shutting down EUNAVAILABLE, so clients retry
// elsewhere or later instead of reporting a server bug.
func unavailableWhenClosed(err error) error {
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", domain.Errorf(domain.EUNAVAILABLE, "Live updates are shutting down"), err)
	}
	return err
}
