package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// unreachableRevocations is an accounts store whose revocation table cannot be read,
// as while the database restarts ("not yet accepting connections").
type unreachableRevocations struct{ httpapi.Accounts }

func (unreachableRevocations) RevokedUntil(context.Context, string) (time.Time, error) {
	return time.Time{}, errors.New("failed to connect: the database system is not yet accepting connections")
}

// A request whose token cannot be checked against revocations right now is refused
// as unavailable (503, come back later), not reported as a server bug, whatever the
// readiness check says at that moment.
func TestAuthentication_WithRevocationsUnreadableIsUnavailable(t *testing.T) {
	api := newAccountsAPIWith(t, func(c *httpapi.Config) { c.Accounts = unreachableRevocations{c.Accounts} })
	r := api.json("GET", "/users/me/scans", api.bearer(domain.NewID(), auth.RoleUser), "").want(t, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("a 503 without Retry-After")
	}
}
