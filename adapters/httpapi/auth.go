package httpapi

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

const claimsKey = "scanledger.claims"

// authenticate requires a valid access token: a refresh token, an expired token or a
// token signed with another secret get 401, so the PWA's refresh-and-retry works.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	raw, found := strings.CutPrefix(h, "Bearer ")
	if !found || raw == "" {
		s.writeError(c, domain.Errorf(domain.EUNAUTHORIZED, "Unauthorized"))
		return
	}
	cl, err := s.Tokens.Verify(strings.TrimSpace(raw), auth.Access)
	if err == nil {
		err = s.revoked.check(c.Request.Context(), cl)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Set(claimsKey, cl)
	c.Next()
}

func claims(c *gin.Context) auth.Claims {
	v, _ := c.Get(claimsKey)
	cl, _ := v.(auth.Claims)
	return cl
}

// canAudit reports whether the caller may read any scan's history. The token's role
// is only a hint: the role stored now decides, so a demoted auditor loses access at
// once rather than when the token expires.
func (s *Server) canAudit(c *gin.Context) bool {
	cl := claims(c)
	if cl.Role != auth.RoleAuditor && cl.Role != auth.RoleAdmin {
		return false
	}
	if s.Accounts == nil {
		// Roles beyond a user's own data are granted in the accounts store only; a
		// signed claim alone is not enough, so without the store nobody audits.
		return false
	}
	role, err := s.Accounts.Role(c.Request.Context(), cl.UserID)
	return err == nil && (role == auth.RoleAuditor || role == auth.RoleAdmin)
}
