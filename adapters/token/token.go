// Package token issues and verifies scanledger's JWTs (HS256) in domain/auth's words. Access and refresh tokens
// carry a "typ" claim, so one can never stand in for the other (the original backend's
// tokens were interchangeable).
package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// Issuer signs and verifies tokens with one secret.
type Issuer struct {
	Secret     []byte
	Issuer     string        // iss, checked on every token
	Audience   string        // aud, checked on every token
	AccessTTL  time.Duration // default 15 min
	RefreshTTL time.Duration // default 7 days
	Now        func() time.Time
}

type claims struct {
	Role    string `json:"role"`
	Type    string `json:"typ"`
	Session string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

func (is *Issuer) now() time.Time {
	if is.Now != nil {
		return is.Now()
	}
	return time.Now()
}

// Issue signs a token of the given type for userID, outside any login session.
func (is *Issuer) Issue(typ, userID, role string) (string, auth.Claims, error) {
	return is.IssueInSession(typ, userID, role, "")
}

// IssueInSession signs a token of the given type for userID that names the login
// session (refresh-token family) it belongs to, so that a holder of the expired token
// can later be told apart by whether that session is still alive (VerifyLapsed).
func (is *Issuer) IssueInSession(typ, userID, role, session string) (string, auth.Claims, error) {
	if len(is.Secret) < 16 {
		return "", auth.Claims{}, errors.New("issue token: secret shorter than 16 bytes")
	}
	ttl := is.AccessTTL
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	if typ == auth.Refresh {
		ttl = is.refreshTTL()
	}
	now := is.now().Truncate(time.Second)
	c := claims{Role: role, Type: typ, Session: session, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   userID,
		Issuer:    is.Issuer,
		Audience:  jwt.ClaimStrings{is.Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        domain.NewID(),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(is.Secret)
	if err != nil {
		return "", auth.Claims{}, fmt.Errorf("sign token: %w", err)
	}
	return s, auth.Claims{UserID: userID, Role: role, Type: typ, ID: c.ID, Session: session, IssuedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// Verify checks signature (HS256 only), expiry, issuer, audience and type, and returns
// the claims. Every failure is a domain.EUNAUTHORIZED error.
func (is *Issuer) Verify(raw, typ string) (auth.Claims, error) {
	return is.verify(raw, typ, is.now)
}

// VerifyLapsed is Verify for a token that may have expired, up to the refresh lifetime
// ago, and that names its login session. A genuine but expired token proves who the
// user was, not that they still are: the caller must also check that the session is
// still alive (not revoked, not expired) before honouring it.
func (is *Issuer) VerifyLapsed(raw, typ string) (auth.Claims, error) {
	// Checking expiry against a clock set back by the refresh lifetime accepts exactly
	// the tokens that expired less than that long ago.
	c, err := is.verify(raw, typ, func() time.Time { return is.now().Add(-is.refreshTTL()) })
	if err != nil {
		return auth.Claims{}, err
	}
	if c.Session == "" {
		return auth.Claims{}, domain.Errorf(domain.EUNAUTHORIZED, "Token expired")
	}
	return c, nil
}

func (is *Issuer) refreshTTL() time.Duration {
	if is.RefreshTTL > 0 {
		return is.RefreshTTL
	}
	return 7 * 24 * time.Hour
}

func (is *Issuer) verify(raw, typ string, now func() time.Time) (auth.Claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return is.Secret, nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuer(is.Issuer),
		jwt.WithAudience(is.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return auth.Claims{}, domain.Errorf(domain.EUNAUTHORIZED, "Token expired")
		}
		return auth.Claims{}, domain.Errorf(domain.EUNAUTHORIZED, "Invalid token")
	}
	if c.Type != typ {
		return auth.Claims{}, domain.Errorf(domain.EUNAUTHORIZED, "Invalid token type")
	}
	if c.Subject == "" || !auth.ValidRole(c.Role) {
		return auth.Claims{}, domain.Errorf(domain.EUNAUTHORIZED, "Invalid token")
	}
	out := auth.Claims{UserID: c.Subject, Role: c.Role, Type: c.Type, ID: c.ID, Session: c.Session}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	return out, nil
}
