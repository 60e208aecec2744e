// Package auth holds the words of authentication that the adapters share: roles, the
// two kinds of token and the claims a verified token carries. adapters/token signs and
// verifies tokens in these words; accounts, httpapi and relay speak them without
// importing a JWT library.
package auth

import "time"

// Token kinds. A token's kind is signed into it, so one can never stand in for the other.
const (
	Access  = "access"
	Refresh = "refresh"
)

// Roles.
const (
	RoleUser    = "user"
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
	RoleAnalyst = "analyst"
)

// ValidRole reports whether r is a role scanledger knows.
func ValidRole(r string) bool {
	switch r {
	case RoleUser, RoleAdmin, RoleAuditor, RoleAnalyst:
		return true
	}
	return false
}

// Claims are what a verified token says.
type Claims struct {
	UserID string
	Role   string
	Type   string // Access or Refresh
	ID     string // jti
	// Session is the login session (refresh-token family) an access token was issued
	// in, empty for tokens minted outside a login (the CLI's token command).
	Session   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}
