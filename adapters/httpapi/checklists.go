package httpapi

import "github.com/gin-gonic/gin"

// ChecklistStore stores base and custom checklists (to be designed).
type ChecklistStore interface{}

// checklistRoutes registers /checklists/* and /users/me/checklists.
func (s *Server) checklistRoutes(authed *gin.RouterGroup) {}
