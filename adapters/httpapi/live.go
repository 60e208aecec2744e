package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/domain"
)

// liveRoutes registers the live-update transports.
func (s *Server) liveRoutes(public, authed *gin.RouterGroup) {
	authed.GET("/events", s.liveSSE)
}

// liveSSE streams the authenticated user's live updates as Server-Sent Events. The
// stream is always the caller's own; ?scanId= narrows it to one scan.
func (s *Server) liveSSE(c *gin.Context) {
	resume, err := relay.ParseLastEventID(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	scanFilter := c.Query("scanId")
	if scanFilter != "" && !domain.ValidID(scanFilter) {
		s.writeError(c, domain.Errorf(domain.EINVALID, "scanId must be a UUID"))
		return
	}
	if err := s.SSE.Serve(c.Writer, c.Request, claims(c).UserID, scanFilter, resume); err != nil {
		s.writeError(c, err)
	}
}
