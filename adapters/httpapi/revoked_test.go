package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/adapters/httpapi"
)

// An access token stops working soon after its user is deleted (even by hand, in SQL)
// or the user's tokens are revoked, instead of living out its 15 minutes.
func TestAccessTokensOfDeletedOrRevokedUsersStopWorking(t *testing.T) {
	api := newHardenedAPI(t, "", func(c *httpapi.Config) { c.UserCheckTTL = 200 * time.Millisecond })
	ctx := t.Context()

	gone := api.signup("gone@example.com")
	api.json("POST", "/scans", gone.AccessToken, `{"address":"1 Test Street"}`).want(t, http.StatusCreated)
	if _, err := api.db.Write.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, gone.User.ID); err != nil {
		t.Fatal(err)
	}
	acctEventually(t, "the deleted user's token is refused", func() bool {
		return api.json("POST", "/scans", gone.AccessToken, `{"address":"1 Test Street"}`).status == http.StatusUnauthorized
	})
	api.do("GET", "/users/me/scans", gone.AccessToken, "", nil).want(t, http.StatusUnauthorized)

	revoked := api.signup("revoked@example.com")
	kept := api.signup("kept@example.com")
	if err := api.accounts.RevokeTokens(ctx, "revoked@example.com"); err != nil {
		t.Fatal(err)
	}
	acctEventually(t, "the revoked token is refused", func() bool {
		return api.do("GET", "/users/me", revoked.AccessToken, "", nil).status == http.StatusUnauthorized
	})
	api.do("GET", "/users/me", kept.AccessToken, "", nil).want(t, http.StatusOK)
	// Logging in again after the revocation gives a token that works.
	time.Sleep(1100 * time.Millisecond) // token times are whole seconds
	var again authResponse
	api.json("POST", "/auth/login", "", `{"email":"revoked@example.com","password":"secret1"}`).want(t, http.StatusCreated).data(t, &again)
	api.do("GET", "/users/me", again.AccessToken, "", nil).want(t, http.StatusOK)
}

// The WebSocket route takes its token from the subprotocol or the query, not the
// Authorization header, and refuses a revoked user's token all the same, before any
// upgrade.
func TestWebSocketRefusesTokensOfRevokedUsers(t *testing.T) {
	api := newHardenedAPI(t, "", func(c *httpapi.Config) { c.UserCheckTTL = 200 * time.Millisecond })
	revoked := api.signup("revoked@example.com")
	kept := api.signup("kept@example.com")
	dial := func(tok string) int {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(api.url, "http")+"/api/v1/ws?token="+tok, nil)
		if err == nil {
			c.CloseNow()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	if got := dial(revoked.AccessToken); got != http.StatusSwitchingProtocols {
		t.Fatalf("before the revocation: %d", got)
	}
	if err := api.accounts.RevokeTokens(t.Context(), "revoked@example.com"); err != nil {
		t.Fatal(err)
	}
	acctEventually(t, "the revoked token is refused on the WebSocket route", func() bool {
		return dial(revoked.AccessToken) == http.StatusUnauthorized
	})
	if got := dial(kept.AccessToken); got != http.StatusSwitchingProtocols {
		t.Errorf("another user's WebSocket: %d, want 101", got)
	}
}
