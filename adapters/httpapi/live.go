package httpapi

import (
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain"
)

// liveRoutes registers the live-update transports. SSE sits behind the usual Bearer
// check; the WebSocket route is public because browsers cannot set Authorization on a
// WebSocket, and checks the token itself before upgrading.
func (s *Server) liveRoutes(public, authed *gin.RouterGroup) {
	authed.GET("/events", s.liveSSE)
	if s.SSE == nil {
		return
	}
	// The WebSocket transport shares the SSE transport's hub and timings, and the API's
	// CORS origins, as the original backend shared one origin list for HTTP and sockets.
	ws := relay.NewWebSocket(s.SSE.Hub(),
		relay.WithHeartbeat(s.SSE.Heartbeat()),
		relay.WithWriteTimeout(s.SSE.WriteTimeout()),
		relay.WithOrigins(s.CORSOrigins),
		relay.WithLogger(s.log))
	public.GET("/ws", func(c *gin.Context) { s.liveWebSocket(c, ws) })
}

// liveSSE streams the authenticated user's live updates as Server-Sent Events. The
// stream is always the caller's own; ?scanId= narrows it to one scan.
func (s *Server) liveSSE(c *gin.Context) {
	resume, err := relay.ParseLastEventID(c.Request)
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
	if err := s.SSE.Serve(c.Writer, c.Request, claims(c).UserID, scanFilter, resume); err != nil {
		s.writeError(c, liveError(err))
	}
}

// liveWebSocket streams the caller's live updates over WebSocket. The access token
// comes from the "bearer, <token>" subprotocol or the token query parameter, and is
// verified like a Bearer header: a missing, refresh or expired token, or one of a deleted
// or revoked user, gets 401 before
// any upgrade, so nothing is streamed to a caller who is not who they claim.
// ?after=<id> resumes, ?scanId= narrows to one scan.
func (s *Server) liveWebSocket(c *gin.Context, ws *relay.WebSocket) {
	raw := relay.WebSocketToken(c.Request)
	if raw == "" {
		s.writeError(c, domain.Errorf(domain.EUNAUTHORIZED, "Unauthorized"))
		return
	}
	cl, err := s.Tokens.Verify(raw, token.Access)
	if err == nil {
		// A deleted or revoked user's token is refused here as on every other route.
		err = s.revoked.check(c.Request.Context(), cl)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	resume, err := relay.ParseAfter(c.Request)
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
	if err := ws.Serve(c.Writer, c.Request, cl.UserID, scanFilter, resume); err != nil {
		s.writeError(c, liveError(err))
	}
}

func liveScanFilter(c *gin.Context) (string, error) {
	id := c.Query("scanId")
	if id != "" && !domain.ValidID(id) {
		return "", domain.Errorf(domain.EINVALID, "scanId must be a UUID")
	}
	return id, nil
}

// liveError makes a hub that is shutting down a 503, so clients retry elsewhere or later
// instead of reporting a server bug.
func liveError(err error) error {
	if errors.Is(err, relay.ErrClosed) {
		return fmt.Errorf("%w: %w", domain.Errorf(domain.EUNAVAILABLE, "Live updates are shutting down"), err)
	}
	return err
}
