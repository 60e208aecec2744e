package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

func TestSignupAnswers201WithTheAuthResponse(t *testing.T) {
	t.Parallel()
	api := newAccountsAPI(t)
	r := api.json("POST", "/auth/signup", "", `{"email":"ada@example.com","password":"secret1","firstName":"Ada","lastName":"Lovelace"}`).
		want(t, http.StatusCreated)
	var raw struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Data) != 3 {
		t.Fatalf("AuthResponse has accessToken, refreshToken and user: %s", r.body)
	}
	var user map[string]any
	if err := json.Unmarshal(raw.Data["user"], &user); err != nil || len(user) != 7 {
		t.Fatalf("user has exactly id, email, firstName, lastName, role, createdAt, updatedAt: %s", raw.Data["user"])
	}
	var a authResponse
	r.data(t, &a)
	u := a.User
	if !domain.ValidID(u.ID) || u.Email != "ada@example.com" || u.FirstName != "Ada" || u.LastName != "Lovelace" ||
		u.Role != "user" || !isoMillis.MatchString(u.CreatedAt) || !isoMillis.MatchString(u.UpdatedAt) {
		t.Fatalf("user %+v", u)
	}
	if c, err := api.tokens.Verify(a.AccessToken, auth.Access); err != nil || c.UserID != u.ID {
		t.Fatalf("access token: %v", err)
	}
	if c, err := api.tokens.Verify(a.RefreshToken, auth.Refresh); err != nil || c.UserID != u.ID {
		t.Fatalf("refresh token: %v", err)
	}
}

func TestSignupValidationListsEveryProblemInClassValidatorsWords(t *testing.T) {
	t.Parallel()
	api := newAccountsAPI(t)
	got := api.json("POST", "/auth/signup", "", `{"email":"nope","password":"123","lastName":""}`).want(t, http.StatusBadRequest).messages(t)
	for _, m := range []string{
		"email must be an email",
		"password must be longer than or equal to 6 characters",
		"firstName should not be empty",
		"firstName must be a string",
		"lastName should not be empty",
	} {
		if !hasMessage(got, m) {
			t.Errorf("missing %q in %q", m, got)
		}
	}
	got = api.json("POST", "/auth/signup", "", `{"email":"ada@example.com","password":"secret1","firstName":"A","lastName":"L","role":"admin"}`).
		want(t, http.StatusBadRequest).messages(t)
	if !hasMessage(got, "property role should not exist") {
		t.Fatalf("got %q", got)
	}
}

func TestSignupWithATakenEmailIs409(t *testing.T) {
	t.Parallel()
	api := newAccountsAPI(t)
	api.signup("ada@example.com")
	r := api.json("POST", "/auth/signup", "", `{"email":"Ada@Example.com","password":"secret1","firstName":"A","lastName":"L"}`).
		want(t, http.StatusConflict)
	if m := r.message(t); m != "User with this email already exists" {
		t.Fatalf("message %q", m)
	}
}

func TestLoginAnswers201OrInvalidCredentials(t *testing.T) {
	t.Parallel()
	api, want := newSignedInAPI(t)
	var a authResponse
	api.json("POST", "/auth/login", "", `{"email":"ada@example.com","password":"secret1"}`).want(t, http.StatusCreated).data(t, &a)
	if a.User.ID != want.User.ID || a.AccessToken == "" || a.RefreshToken == "" {
		t.Fatalf("login %+v", a)
	}
	for _, body := range []string{`{"email":"ada@example.com","password":"secret2"}`, `{"email":"bob@example.com","password":"secret1"}`} {
		if m := api.json("POST", "/auth/login", "", body).want(t, http.StatusUnauthorized).message(t); m != "Invalid credentials" {
			t.Fatalf("message %q", m)
		}
	}
	// As in the original, a password too short to be anyone's is a 400, not a 401.
	got := api.json("POST", "/auth/login", "", `{"email":"ada@example.com","password":"12345"}`).want(t, http.StatusBadRequest).messages(t)
	if !hasMessage(got, "password must be longer than or equal to 6 characters") {
		t.Fatalf("got %q", got)
	}
}

func TestLoginAfterTooManyFailuresIs429WithRetryAfter(t *testing.T) {
	t.Parallel()
	api := newAccountsAPI(t, func(s *accounts.Store) {
		s.LoginLimits = accounts.LoginLimits{PerEmail: 2, PerIP: 100, Window: time.Minute}
	})
	api.signup("ada@example.com")
	for range 2 {
		api.json("POST", "/auth/login", "", `{"email":"ada@example.com","password":"wrong-one"}`).want(t, http.StatusUnauthorized)
	}
	r := api.json("POST", "/auth/login", "", `{"email":"ada@example.com","password":"secret1"}`).want(t, http.StatusTooManyRequests)
	if m := r.message(t); m != "Too many failed login attempts. Try again in 1 minute." {
		t.Fatalf("message %q", m)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
}

func TestRefreshAnswers201WithANewPair(t *testing.T) {
	t.Parallel()
	api, first := newSignedInAPI(t)
	var next authResponse
	api.json("POST", "/auth/refresh", "", `{"refreshToken":"`+first.RefreshToken+`"}`).want(t, http.StatusCreated).data(t, &next)
	if next.RefreshToken == first.RefreshToken || next.User.ID != first.User.ID || next.AccessToken == "" {
		t.Fatalf("refresh %+v", next)
	}
	api.json("GET", "/users/me", next.AccessToken, "").want(t, http.StatusOK)
}

func TestRefreshRefusesWhatIsNotAValidRefreshToken(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	got := api.json("POST", "/auth/refresh", "", `{"refreshToken":"not a jwt"}`).want(t, http.StatusBadRequest).messages(t)
	if len(got) != 1 || got[0] != "refreshToken must be a jwt string" {
		t.Fatalf("got %q", got)
	}
	api.json("POST", "/auth/refresh", "", `{}`).want(t, http.StatusBadRequest)
	r := api.json("POST", "/auth/refresh", "", `{"refreshToken":"`+a.AccessToken+`"}`).want(t, http.StatusUnauthorized)
	if m := r.message(t); m != "Invalid refresh token" {
		t.Fatalf("message %q", m)
	}
}

func TestARefreshTokenIsRefusedAsABearerToken(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	api.json("GET", "/users/me", a.RefreshToken, "").want(t, http.StatusUnauthorized)
}

func TestParallelRefreshesWithOneRefreshTokenAllSucceed(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	const n = 5
	var wg sync.WaitGroup
	replies := make([]acctReply, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = api.json("POST", "/auth/refresh", "", `{"refreshToken":"`+a.RefreshToken+`"}`)
		}()
	}
	wg.Wait()
	for _, r := range replies {
		var next authResponse
		r.want(t, http.StatusCreated).data(t, &next)
		api.json("GET", "/users/me", next.AccessToken, "").want(t, http.StatusOK)
	}
}

func TestGetMeShowsTheProfileHousesAndCustomChecklists(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	api.createScan(a.AccessToken)
	api.json("PUT", "/checklists/scope/room", a.AccessToken, `{"name":"My rooms"}`).want(t, http.StatusOK)

	type meJSON struct {
		ID        string  `json:"id"`
		Email     string  `json:"email"`
		FirstName *string `json:"firstName"`
		LastName  *string `json:"lastName"`
		Role      string  `json:"role"`
		CreatedAt string  `json:"createdAt"`
		UpdatedAt string  `json:"updatedAt"`
		Houses    []struct {
			ID        string  `json:"id"`
			Address   *string `json:"address"`
			HouseType *string `json:"houseType"`
			Status    string  `json:"status"`
			CreatedAt string  `json:"createdAt"`
			UpdatedAt string  `json:"updatedAt"`
			Count     struct {
				Scans int `json:"scans"`
			} `json:"_count"`
		} `json:"houses"`
		CustomChecklists []map[string]any `json:"customChecklists"`
	}
	var me meJSON
	acctEventually(t, "the house appears in /users/me", func() bool {
		api.json("GET", "/users/me", a.AccessToken, "").want(t, http.StatusOK).data(t, &me)
		return len(me.Houses) == 1
	})
	if me.ID != a.User.ID || me.Email != "ada@example.com" || *me.FirstName != "Ada" || me.Role != "user" ||
		!isoMillis.MatchString(me.CreatedAt) || !isoMillis.MatchString(me.UpdatedAt) {
		t.Fatalf("me %+v", me)
	}
	h := me.Houses[0]
	if *h.Address != "1 Test Street" || h.Status != "active" || h.Count.Scans != 1 || !isoMillis.MatchString(h.UpdatedAt) {
		t.Fatalf("house %+v", h)
	}
	if len(me.CustomChecklists) != 1 || len(me.CustomChecklists[0]) != 5 || me.CustomChecklists[0]["scope"] != "room" ||
		me.CustomChecklists[0]["name"] != "My rooms" {
		t.Fatalf("customChecklists %+v", me.CustomChecklists)
	}
}

func TestNullNamesAreEmptyInAuthResponsesAndNullInTheProfile(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	if _, err := api.db.Write.Exec(`UPDATE users SET first_name = NULL, last_name = NULL`); err != nil {
		t.Fatal(err)
	}
	var login authResponse
	api.json("POST", "/auth/login", "", `{"email":"ada@example.com","password":"secret1"}`).want(t, http.StatusCreated).data(t, &login)
	if login.User.FirstName != "" || login.User.LastName != "" {
		t.Fatalf("auth user %+v", login.User)
	}
	var me map[string]any
	api.json("GET", "/users/me", a.AccessToken, "").want(t, http.StatusOK).data(t, &me)
	if v, present := me["firstName"]; !present || v != nil {
		t.Fatalf("profile firstName %v", v)
	}
}

func TestGetMeOfAUserWithoutAnAccountIs404(t *testing.T) {
	t.Parallel()
	api := newAccountsAPI(t)
	// A token the operator minted (scanledger token) for a user that never signed up.
	tok, _, err := api.tokens.Issue(auth.Access, domain.NewID(), auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if m := api.json("GET", "/users/me", tok, "").want(t, http.StatusNotFound).message(t); m != "User not found" {
		t.Fatalf("message %q", m)
	}
}

func TestPatchMeUpdatesTheProfile(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	var u map[string]any
	api.json("PATCH", "/users/me", a.AccessToken, `{"firstName":"Augusta","lastName":"King","email":"augusta@example.com"}`).
		want(t, http.StatusOK).data(t, &u)
	if len(u) != 7 || u["firstName"] != "Augusta" || u["lastName"] != "King" || u["email"] != "augusta@example.com" || u["id"] != a.User.ID {
		t.Fatalf("patched %v", u)
	}
	api.json("PATCH", "/users/me", a.AccessToken, `{"password":"a-new-secret"}`).want(t, http.StatusOK)
	api.json("POST", "/auth/login", "", `{"email":"augusta@example.com","password":"a-new-secret"}`).want(t, http.StatusCreated)
}

func TestPatchMeWithAnEmailInUseIs409NotA500(t *testing.T) {
	t.Parallel()
	api := newAccountsAPI(t)
	api.signup("ada@example.com")
	b := api.signup("bob@example.com")
	r := api.json("PATCH", "/users/me", b.AccessToken, `{"email":"ADA@example.com"}`).want(t, http.StatusConflict)
	if m := r.message(t); m != "User with this email already exists" {
		t.Fatalf("message %q", m)
	}
	got := api.json("PATCH", "/users/me", b.AccessToken, `{"email":"nope","firstName":7}`).want(t, http.StatusBadRequest).messages(t)
	if !hasMessage(got, "email must be an email") || !hasMessage(got, "firstName must be a string") {
		t.Fatalf("got %q", got)
	}
}

func TestWithoutAnAccountStoreTheRoutesDoNotExist(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(httpapi.New(httpapi.Config{Tokens: &token.Issuer{Secret: []byte("jwt-secret-0123456789abcdef")}}).Handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/api/v1/auth/login", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// The accounts store is the checklist source of processing: what a user saved in
// settings is what their next attempt sends to the analyzer.
func TestProcessingUsesTheUsersMergedChecklists(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	api.json("PUT", "/checklists/scope/house", a.AccessToken, `{"name":"Mine","itemsRaw":`+customHouse+`}`).want(t, http.StatusOK)
	id := api.createScan(a.AccessToken)
	api.json("POST", "/scans/"+id+"/process", a.AccessToken, `{}`).want(t, http.StatusCreated)
	sc, err := api.scans.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want, err := api.accounts.Merged(context.Background(), a.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(sc.Checklists.House) != string(want.House) || !json.Valid(sc.Checklists.House) ||
		!containsItem(sc.Checklists.House, "item_1760") {
		t.Fatalf("house checklist sent: %s", sc.Checklists.House)
	}
}

func containsItem(raw json.RawMessage, id string) bool {
	var v struct {
		Default struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		} `json:"default"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	for _, it := range v.Default.Items {
		if it.ID == id {
			return true
		}
	}
	return false
}
