package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/internal/logtest"
	"github.com/scanledger/scanledger/projections/scans"
)

// bearer issues an access token for userID claiming role.
func (a *accountsAPI) bearer(userID, role string) string {
	a.t.Helper()
	raw, _, err := a.tokens.Issue(auth.Access, userID, role)
	if err != nil {
		a.t.Fatal(err)
	}
	return raw
}

// readable reports the statuses of a scan and of its event history for bearer.
func (a *accountsAPI) readable(scanID, bearer string) [2]int {
	a.t.Helper()
	return [2]int{a.json("GET", "/scans/"+scanID, bearer, "").status, a.json("GET", "/scans/"+scanID+"/events", bearer, "").status}
}

// projectedScan creates a scan for the owner's bearer token and waits until the read
// model shows it.
func (a *accountsAPI) projectedScan(t *testing.T, owner string) (scanID string) {
	t.Helper()
	scanID = a.createScan(owner)
	acctEventually(t, "the scan in the read model", func() bool {
		return a.json("GET", "/scans/"+scanID, owner, "").status == http.StatusOK
	})
	return scanID
}

var (
	readOK     = [2]int{http.StatusOK, http.StatusOK}
	readHidden = [2]int{http.StatusNotFound, http.StatusNotFound}
)

func TestAudit_AuditorsAndAdminsReadAnyScanAndItsHistoryOthersAreToldItDoesNotExist(t *testing.T) {
	api := newAccountsAPI(t)
	owner := api.signup("owner@example.com")
	id := api.projectedScan(t, owner.AccessToken)
	if got := api.readable(id, owner.AccessToken); got != readOK {
		t.Errorf("the owner got %v, want %v", got, readOK)
	}
	for _, tc := range []struct {
		email, role string
		want        [2]int
	}{
		{"auditor@example.com", auth.RoleAuditor, readOK},
		{"admin@example.com", auth.RoleAdmin, readOK},
		{"analyst@example.com", auth.RoleAnalyst, readHidden},
		{"user@example.com", auth.RoleUser, readHidden},
	} {
		u := api.signup(tc.email)
		if err := api.accounts.SetRole(context.Background(), tc.email, tc.role); err != nil {
			t.Fatal(err)
		}
		if got := api.readable(id, api.bearer(u.User.ID, tc.role)); got != tc.want {
			t.Errorf("%s got %v for someone else's scan and its history, want %v", tc.role, got, tc.want)
		}
	}
}

func TestAudit_TheStoredRoleDecidesNotTheTokens(t *testing.T) {
	api := newAccountsAPI(t)
	id := api.projectedScan(t, api.signup("owner@example.com").AccessToken)
	u := api.signup("auditor@example.com")
	ctx := context.Background()
	if err := api.accounts.SetRole(ctx, "auditor@example.com", auth.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	auditor := api.bearer(u.User.ID, auth.RoleAuditor)
	if got := api.readable(id, auditor); got != readOK {
		t.Fatalf("the auditor got %v, want %v", got, readOK)
	}
	if err := api.accounts.SetRole(ctx, "auditor@example.com", auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	if got := api.readable(id, auditor); got != readHidden {
		t.Errorf("a demoted auditor with a token still naming the role got %v, want %v", got, readHidden)
	}
	// A token naming a role for an account that no longer exists is no better.
	if got := api.readable(id, api.bearer(domain.NewID(), auth.RoleAdmin)); got != readHidden {
		t.Errorf("an admin token for an unknown account got %v, want %v", got, readHidden)
	}
}

// Auditing is granted by the role stored in the accounts store, never by a token's
// claim alone: a server without that store lets nobody read others' scans.
func TestAudit_WithoutAnAccountsStoreNobodyAudits(t *testing.T) {
	api := newAccountsAPIWith(t, func(c *httpapi.Config) { c.Accounts = nil })
	id := api.projectedScan(t, api.bearer(domain.NewID(), auth.RoleUser))
	for _, role := range []string{auth.RoleAuditor, auth.RoleAdmin} {
		if got := api.readable(id, api.bearer(domain.NewID(), role)); got != readHidden {
			t.Errorf("an %s token got %v, want %v", role, got, readHidden)
		}
	}
	if got := api.readable(id, api.bearer(domain.NewID(), auth.RoleUser)); got != readHidden {
		t.Errorf("a user token got %v, want %v", got, readHidden)
	}
}

func TestCreateScan_ForAnExistingHouseOnlyItsOwnerMayAddAScan(t *testing.T) {
	api := newAccountsAPI(t)
	owner := api.signup("owner@example.com")
	id := api.projectedScan(t, owner.AccessToken)
	var first struct{ HouseID string }
	api.json("GET", "/scans/"+id, owner.AccessToken, "").want(t, http.StatusOK).data(t, &first)
	if first.HouseID == "" {
		t.Fatal("the scan shows no houseId")
	}

	var again struct{ ScanID, HouseID string }
	api.json("POST", "/scans", owner.AccessToken, `{"houseId":"`+first.HouseID+`"}`).want(t, http.StatusCreated).data(t, &again)
	if again.HouseID != first.HouseID || again.ScanID == id {
		t.Errorf("the owner's second scan = %+v, want a new scan of house %s", again, first.HouseID)
	}

	other := api.signup("other@example.com")
	if m := api.json("POST", "/scans", other.AccessToken, `{"houseId":"`+first.HouseID+`"}`).want(t, http.StatusNotFound).message(t); m != "House not found" {
		t.Errorf("someone else's house: message %q, want House not found", m)
	}
	api.json("POST", "/scans", owner.AccessToken, `{"houseId":"`+domain.NewID()+`"}`).want(t, http.StatusNotFound)
}

// downReader is a read model whose database is unreachable.
type downReader struct{ httpapi.Reader }

func (downReader) ListByUser(context.Context, string) ([]scans.Scan, error) {
	return nil, domain.Errorf(domain.EUNAVAILABLE, "The read model is unavailable")
}

func TestErrors_ADependencyThatIsDownGives503WithItsMessage(t *testing.T) {
	api := newAccountsAPIWith(t, func(c *httpapi.Config) { c.Reader = downReader{c.Reader} })
	u := api.signup("ada@example.com")
	r := api.json("GET", "/users/me/scans", u.AccessToken, "").want(t, http.StatusServiceUnavailable)
	if m := r.message(t); m != "The read model is unavailable" {
		t.Errorf("message %q", m)
	}
}

func TestErrors_A400ListsEveryProblemOrTheOneItHas(t *testing.T) {
	api, u := newSignedInAPI(t)
	for body, want := range map[string][]string{
		`{"colour":"red"}`:          {"property colour should not exist"},
		`{"colour":"red","size":1}`: {"property colour should not exist", "property size should not exist"},
		`["not", "an", "object"]`:   {"Request body must be a JSON object"},
		`{"houseId":"not-a-uuid"}`:  {"houseId must be a UUID"},
		`{"address":["1 Main St"]}`: {"Invalid request body: address must be a string"},
	} {
		got := api.json("POST", "/scans", u.AccessToken, body).want(t, http.StatusBadRequest).messages(t)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("POST /scans %s: messages %q, want %q", body, got, want)
		}
	}
}

// brokenReader is a read model failing in a way no domain code describes.
type brokenReader struct{ httpapi.Reader }

func (brokenReader) ListByUser(context.Context, string) ([]scans.Scan, error) {
	return nil, errors.New("disk on fire")
}

func TestErrors_AServerFaultGives500WithoutItsCauseAndLogsIt(t *testing.T) {
	var logs logtest.Buffer
	api := newAccountsAPIWith(t, func(c *httpapi.Config) {
		c.Reader = brokenReader{c.Reader}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	u := api.signup("ada@example.com")
	r := api.json("GET", "/users/me/scans", u.AccessToken, "").want(t, http.StatusInternalServerError)
	if m := r.message(t); strings.Contains(m, "disk on fire") {
		t.Errorf("the 500 shows its cause: %q", m)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the cause was not logged: %q", logs.String())
	}
}

func TestErrors_AnUnknownRouteGives404NamingIt(t *testing.T) {
	api := newAccountsAPI(t)
	r := api.json("GET", "/nothing/here", "", "").want(t, http.StatusNotFound)
	if m := r.message(t); m != "Cannot GET /api/v1/nothing/here" {
		t.Errorf("message %q", m)
	}
}
