package httpapi

import "github.com/gin-gonic/gin"

// Accounts is the user store (to be designed with the accounts work).
type Accounts interface{}

// accountRoutes registers /auth/* and /users/me routes.
func (s *Server) accountRoutes(public, authed *gin.RouterGroup) {}
