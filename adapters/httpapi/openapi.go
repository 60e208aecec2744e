package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPI describes every route of the router (OpenAPI 3.1). A test holds the two
// together: each route the router registers is in the document and each operation in
// the document is a route; and the contract tests' real traffic is validated against
// it.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) openAPIDocument(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}

// Route is one method and path template the router serves, in gin's form
// (/api/v1/scans/:scanId).
type Route struct{ Method, Path string }

// Routes lists the routes the router registers with this configuration.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.router().Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	return out
}
