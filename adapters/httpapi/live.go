package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// LiveTransport is one live-update transport: adapters/relay's SSE or WebSocket, built
// in cmd.
type LiveTransport interface {
	// Open reads where r resumes (a malformed resume point is EINVALID) and returns the
	// stream that serves userID's updates, one scan's when scanID is set, from there. A
	// transport that is shutting down makes the stream EUNAVAILABLE.
	Open(r *http.Request) (func(w http.ResponseWriter, r *http.Request, userID, scanID string) error, error)
}

// WebSocketTransport is a LiveTransport whose requests carry their access token
// themselves (Token, "" when there is none).
type WebSocketTransport interface {
	LiveTransport
	Token(r *http.Request) string
}

// liveRoutes registers the live-update transports. SSE sits behind the usual Bearer
// check; the WebSocket route is public because browsers cannot set Authorization on a
// WebSocket, and checks the token itself before upgrading.
func (s *Server) liveRoutes(public, authed *gin.RouterGroup) {
	authed.GET("/events", s.liveSSE)
	if s.WebSocket != nil {
		public.GET("/ws", s.liveWebSocket)
	}
}

// liveSSE streams the authenticated user's live updates as Server-Sent Events. The
// stream is always the caller's own; ?scanId= narrows it to one scan.
func (s *Server) liveSSE(c *gin.Context) {
	stream, err := s.SSE.Open(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	scanFilter, err := liveScanFilter(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	release, err := s.live.acquire(claims(c).UserID, c.ClientIP(), "sse")
	if err != nil {
		s.writeError(c, err)
		return
	}
	defer release()
	if err := stream(c.Writer, c.Request, claims(c).UserID, scanFilter); err != nil {
		s.writeError(c, err)
	}
}

// liveWebSocket streams the caller's live updates over WebSocket. The access token
// comes from the "bearer, <token>" subprotocol or the token query parameter, and is
// verified like a Bearer header: a missing, refresh or expired token, or one of a deleted
// or revoked user, gets 401 before
// any upgrade, so nothing is streamed to a caller who is not who they claim.
// ?after=<id> resumes, ?scanId= narrows to one scan.
func (s *Server) liveWebSocket(c *gin.Context) {
	raw := s.WebSocket.Token(c.Request)
	if raw == "" {
		s.writeError(c, domain.Errorf(domain.EUNAUTHORIZED, "Unauthorized"))
		return
	}
	cl, err := s.Tokens.Verify(raw, auth.Access)
	if err == nil {
		// A deleted or revoked user's token is refused here as on every other route.
		err = s.revoked.check(c.Request.Context(), cl)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	stream, err := s.WebSocket.Open(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	scanFilter, err := liveScanFilter(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Set(claimsKey, cl) // for the access log
	release, err := s.live.acquire(cl.UserID, c.ClientIP(), "websocket")
	if err != nil {
		s.writeError(c, err)
		return
	}
	defer release()
	if err := stream(c.Writer, c.Request, cl.UserID, scanFilter); err != nil {
		s.writeError(c, err)
	}
}

func liveScanFilter(c *gin.Context) (string, error) {
	id := c.Query("scanId")
	if id != "" && !domain.ValidID(id) {
		return "", domain.Errorf(domain.EINVALID, "scanId must be a UUID")
	}
	return id, nil
}
