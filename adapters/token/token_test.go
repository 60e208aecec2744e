package token_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

func issuer(now time.Time) *token.Issuer {
	return &token.Issuer{Secret: []byte("0123456789abcdef0123"), Issuer: "scanledger", Audience: "scanledger-users",
		Now: func() time.Time { return now }}
}

func TestAnAccessTokenVerifiesAsAccessOnly(t *testing.T) {
	is := issuer(time.Now())
	raw, _, err := is.Issue(auth.Access, "u1", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	c, err := is.Verify(raw, auth.Access)
	if err != nil || c.UserID != "u1" || c.Role != auth.RoleUser {
		t.Fatalf("verify: %+v %v", c, err)
	}
	if _, err := is.Verify(raw, auth.Refresh); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
		t.Fatalf("an access token must not pass as a refresh token: %v", err)
	}
}

func TestARefreshTokenIsRefusedAsBearer(t *testing.T) {
	is := issuer(time.Now())
	raw, _, _ := is.Issue(auth.Refresh, "u1", auth.RoleUser)
	if _, err := is.Verify(raw, auth.Access); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
		t.Fatalf("got %v", err)
	}
}

func TestAnExpiredTokenIsRefused(t *testing.T) {
	past := issuer(time.Now().Add(-time.Hour))
	raw, _, _ := past.Issue(auth.Access, "u1", auth.RoleUser)
	_, err := issuer(time.Now()).Verify(raw, auth.Access)
	if domain.ErrorCode(err) != domain.EUNAUTHORIZED || domain.ErrorMessage(err) != "Token expired" {
		t.Fatalf("got %v", err)
	}
}

func TestTokensSignedOtherwiseAreRefused(t *testing.T) {
	is := issuer(time.Now())
	other := issuer(time.Now())
	other.Secret = []byte("another-secret-of-enough-length")
	raw, _, _ := other.Issue(auth.Access, "u1", auth.RoleAdmin)
	if _, err := is.Verify(raw, auth.Access); err == nil {
		t.Fatal("a token signed with another secret was accepted")
	}
	// alg=none and foreign issuers are refused too.
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u1", "role": "admin", "typ": "access",
		"iss": "scanledger", "aud": "scanledger-users", "exp": time.Now().Add(time.Hour).Unix()})
	s, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := is.Verify(s, auth.Access); err == nil {
		t.Fatal("alg none accepted")
	}
	foreign := issuer(time.Now())
	foreign.Issuer = "someone-else"
	raw, _, _ = foreign.Issue(auth.Access, "u1", auth.RoleUser)
	if _, err := is.Verify(raw, auth.Access); err == nil {
		t.Fatal("foreign issuer accepted")
	}
}

func FuzzVerify(f *testing.F) {
	is := issuer(time.Now())
	raw, _, _ := is.Issue(auth.Access, "u1", auth.RoleUser)
	f.Add(raw)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := is.Verify(s, auth.Access)
		if err == nil && s != raw && c.UserID == "" {
			t.Fatal("verified a token without a subject")
		}
	})
}

// An access token issued in a login session names that session, and VerifyLapsed
// accepts it after expiry for as long as a refresh token of the session could live,
// never a token outside any session, never later, never a refresh token or a forgery.
func TestALapsedSessionTokenVerifiesWithinTheRefreshLifetime(t *testing.T) {
	issued := time.Now().Add(-time.Hour)
	past := issuer(issued)
	past.RefreshTTL = 2 * time.Hour
	raw, c, err := past.IssueInSession(auth.Access, "u1", auth.RoleUser, "family-1")
	if err != nil || c.Session != "family-1" {
		t.Fatalf("issue: %+v %v", c, err)
	}
	now := issuer(time.Now())
	now.RefreshTTL = 2 * time.Hour
	if _, err := now.Verify(raw, auth.Access); domain.ErrorMessage(err) != "Token expired" {
		t.Fatalf("Verify must still refuse the expired token: %v", err)
	}
	got, err := now.VerifyLapsed(raw, auth.Access)
	if err != nil || got.UserID != "u1" || got.Session != "family-1" {
		t.Fatalf("VerifyLapsed: %+v %v", got, err)
	}
	if _, err := now.VerifyLapsed(raw, auth.Refresh); err == nil {
		t.Fatal("an access token passed as a lapsed refresh token")
	}

	later := issuer(issued.Add(3 * time.Hour))
	later.RefreshTTL = 2 * time.Hour
	if _, err := later.VerifyLapsed(raw, auth.Access); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
		t.Fatalf("a token past the refresh lifetime was accepted: %v", err)
	}

	sessionless, _, _ := past.Issue(auth.Access, "u1", auth.RoleUser)
	if _, err := now.VerifyLapsed(sessionless, auth.Access); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
		t.Fatalf("a lapsed token outside any session was accepted: %v", err)
	}

	other := issuer(issued)
	other.Secret = []byte("another-secret-of-enough-length")
	forged, _, _ := other.IssueInSession(auth.Access, "u1", auth.RoleUser, "family-1")
	if _, err := now.VerifyLapsed(forged, auth.Access); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
		t.Fatalf("a forged lapsed token was accepted: %v", err)
	}
}
