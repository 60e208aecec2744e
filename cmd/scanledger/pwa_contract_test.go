package main_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// The PWA's contract (contracts/housescanner.md section 1 and Appendix B), driven through
// the real binary the way client-pwa drives it: same routes, same order, same bodies,
// the same refresh-and-retry on 401, and asserting every field a page reads.

// pwaAccessTTL is short so that access tokens expire during the test, as they do over a
// day of real use; the client below must refresh and retry like the PWA's axios
// interceptor.
const pwaAccessTTL = "2s"

// pwaTokenLeeway is the clock skew token verification tolerates past exp.
const pwaTokenLeeway = 5 * time.Second

var pwaISO = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// pwaClient is client-pwa's src/api/client.ts: a Bearer header from the stored access
// token, and on a 401 of a request not yet retried, one POST /auth/refresh with the
// stored refresh token (no Authorization header), then one replay.
type pwaClient struct {
	t   *testing.T
	srv *server

	mu      sync.Mutex
	access  string
	refresh string
	user    pwaAuthUser
	// refreshes counts the interceptor's refreshes (every one must succeed).
	refreshes int
}

// The PWA's JSON shapes are read by field name: encoding/json matches a key to a
// field regardless of case (tags would match the same keys), as the other shapes in
// these tests do.

// pwaAuthUser is AuthResponse.user.
type pwaAuthUser struct {
	ID, Email, FirstName, LastName, Role, CreatedAt, UpdatedAt string
}

// pwaAuthResponse is AuthResponse.
type pwaAuthResponse struct {
	AccessToken, RefreshToken string
	User                      pwaAuthUser
}

func (p *pwaClient) tokens() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.access, p.refresh
}

// store keeps an AuthResponse as AuthContext and the interceptor do.
func (p *pwaClient) store(a pwaAuthResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.access = a.AccessToken
	if a.RefreshToken != "" {
		p.refresh = a.RefreshToken
	}
	if a.User.ID != "" {
		p.user = a.User
	}
}

// auth posts to a public /auth route and checks the AuthResponse shape.
func (p *pwaClient) auth(path, body string) pwaAuthResponse {
	p.t.Helper()
	r := p.srv.json("POST", "/api/v1"+path, "", body)
	if r.Status != http.StatusCreated {
		p.t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
	}
	var a pwaAuthResponse
	r.data(p.t, &a)
	pwaCheckAuth(p.t, a)
	p.store(a)
	return a
}

func pwaCheckAuth(t *testing.T, a pwaAuthResponse) {
	t.Helper()
	u := a.User
	if a.AccessToken == "" || a.RefreshToken == "" || !domain.ValidID(u.ID) || u.Email == "" || u.Role != "user" ||
		!pwaISO.MatchString(u.CreatedAt) || !pwaISO.MatchString(u.UpdatedAt) {
		t.Fatalf("AuthResponse: %+v", a)
	}
}

// call is one API call through the interceptor.
func (p *pwaClient) call(method, path, body string) response {
	p.t.Helper()
	access, refresh := p.tokens()
	r := p.srv.json(method, "/api/v1"+path, access, body)
	if r.Status != http.StatusUnauthorized {
		return r
	}
	rr := p.srv.json("POST", "/api/v1/auth/refresh", "", fmt.Sprintf(`{"refreshToken":%q}`, refresh))
	if rr.Status != http.StatusCreated {
		// The PWA would clear its tokens and send the user to /login.
		p.t.Fatalf("%s %s: 401, then the refresh failed: %d %s", method, path, rr.Status, rr.Body)
	}
	var a pwaAuthResponse
	rr.data(p.t, &a)
	pwaCheckAuth(p.t, a)
	p.store(a)
	p.mu.Lock()
	p.refreshes++
	p.mu.Unlock()
	return p.srv.json(method, "/api/v1"+path, a.AccessToken, body)
}

// ok calls and requires the status, then decodes the data envelope into v (if not nil).
func (p *pwaClient) ok(method, path, body string, status int, v any) response {
	p.t.Helper()
	r := p.call(method, path, body)
	if r.Status != status {
		p.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	if v != nil {
		r.data(p.t, v)
	}
	return r
}

// pwaExpiry reads a JWT's exp without verifying it, as a client may.
func pwaExpiry(t *testing.T, jwt string) time.Time {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Exp int64 }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return time.Unix(c.Exp, 0)
}

// pwaChecklistRow is a full Checklist row.
type pwaChecklistRow struct {
	ID, Scope, Name, CreatedAt string
	Version                    int
	IsBase                     bool
	UserID                     *string
	ItemsRaw                   json.RawMessage
}

// pwaEditorChecklist builds what SettingsPage saves (contract 6.3) from the base it
// shows: group descriptions from the base, new items as item_<Date.now()>, new
// subitems as subitem_<Date.now()>, only types that have items.
func pwaEditorChecklist(t *testing.T, scope string, base json.RawMessage, stamp int64) string {
	t.Helper()
	var b struct {
		Description string `json:"description"`
		Default     struct {
			Description string `json:"description"`
		} `json:"default"`
	}
	if err := json.Unmarshal(base, &b); err != nil {
		t.Fatalf("base %s: %v", scope, err)
	}
	or := func(s, def string) string {
		if s != "" {
			return s
		}
		return def
	}
	item := fmt.Sprintf(`{"id":"item_%d","title":"Solar panels","type":"boolean","description":""}`, stamp)
	cond := fmt.Sprintf(`{"id":"item_%d","title":"Garden shed","type":"conditional","description":"",`+
		`"subitems":[{"id":"subitem_%d","title":"Roof","type":"categorical","options":["Poor","Average","Good","Excellent"]}]}`, stamp+1, stamp+2)
	switch scope {
	case "house":
		return fmt.Sprintf(`{"default":{"items":[%s],"description":%q},"house_types":{"villa":{"items":[%s],"description":"villa specific items"}}}`,
			item, or(b.Default.Description, "Checklist items relevant to all house types"), cond)
	case "room":
		return fmt.Sprintf(`{"default":{"items":[%s],"description":%q},"room_types":{"kitchen":{"items":[%s],"description":"kitchen specific items"}}}`,
			item, or(b.Default.Description, "Checklist items relevant to all room types"), strings.Replace(cond, "Garden shed", "Pantry", 1))
	default:
		return fmt.Sprintf(`{"items":[%s],"description":%q}`, strings.Replace(cond, "Garden shed", "Dishwasher", 1), or(b.Description, "Custom product checklist"))
	}
}

// pwaHistoryItem is an element of GET /users/me/scans as HistoryPage reads it.
type pwaHistoryItem struct {
	ID                 string   `json:"id"`
	Status             string   `json:"status"`
	DetectedHouseTypes []string `json:"detectedHouseTypes"`
	CreatedAt          string   `json:"createdAt"`
	Address            *string  `json:"address"`
	House              struct {
		ID      string  `json:"id"`
		Address *string `json:"address"`
	} `json:"house"`
	Rooms     []json.RawMessage `json:"rooms"`
	Images    []json.RawMessage `json:"images"`
	Summary   json.RawMessage   `json:"summary"`
	AgentRuns []json.RawMessage `json:"agentRuns"`
}

// pwaScan is GET /scans/:id as ScanSummaryPage and ScanSummaryStep read it.
type pwaScan struct {
	ID                 string    `json:"id"`
	HouseID            string    `json:"houseId"`
	Status             string    `json:"status"`
	DetectedHouseTypes *[]string `json:"detectedHouseTypes"`
	CreatedAt          string    `json:"createdAt"`
	StartedAt          *string   `json:"startedAt"`
	FinishedAt         *string   `json:"finishedAt"`
	House              struct {
		ID      string  `json:"id"`
		Address *string `json:"address"`
	} `json:"house"`
	Rooms []struct {
		ID                string    `json:"id"`
		Ordinal           int       `json:"ordinal"`
		Label             string    `json:"label"`
		DetectedRoomTypes *[]string `json:"detectedRoomTypes"`
		Images            []struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		} `json:"images"`
	} `json:"rooms"`
	Images []struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	} `json:"images"`
	Summary *struct {
		SummaryJSON struct {
			House             *pwaAnswers           `json:"house"`
			Rooms             map[string]pwaAnswers `json:"rooms"`
			Products          map[string]pwaAnswers `json:"products"`
			ChecklistMetadata map[string]map[string]struct {
				Title string `json:"title"`
			} `json:"checklist_metadata"`
		} `json:"summaryJson"`
		ProsConsJSON struct {
			Pros *[]string `json:"pros"`
			Cons *[]string `json:"cons"`
		} `json:"prosConsJson"`
		CostSummary json.RawMessage `json:"costSummary"`
	} `json:"summary"`
	AgentRuns []struct {
		ID        string  `json:"id"`
		AgentName string  `json:"agentName"`
		StartedAt *string `json:"startedAt"`
		TokensIn  *int    `json:"tokensIn"`
		TokensOut *int    `json:"tokensOut"`
		CostUSD   *string `json:"costUsd"`
	} `json:"agentRuns"`
}

type pwaAnswers struct {
	BooleansTrue *[]string       `json:"booleans_true"`
	Categoricals *map[string]any `json:"categoricals"`
}

func TestPWAContract(t *testing.T) {
	srv := startServer(t, t.TempDir(), "SCANLEDGER_ACCESS_TTL="+pwaAccessTTL)
	checkOpenAPI(t, srv)
	stamp := time.Now().UnixMilli()
	email := fmt.Sprintf("ada.%d@example.com", stamp)
	pwa := &pwaClient{t: t, srv: srv}

	// SignupPage, then LoginPage.
	signed := pwa.auth("/auth/signup", fmt.Sprintf(`{"email":%q,"password":"secret1","firstName":"Ada","lastName":"Lovelace"}`, email))
	if signed.User.Email != email || signed.User.FirstName != "Ada" || signed.User.LastName != "Lovelace" {
		t.Fatalf("signup user %+v", signed.User)
	}
	logged := pwa.auth("/auth/login", fmt.Sprintf(`{"email":%q,"password":"secret1"}`, email))
	if logged.User.ID != signed.User.ID {
		t.Fatalf("login user %+v", logged.User)
	}

	// AuthContext on app start: GET /users/me.
	var me struct {
		ID, Email, Role, CreatedAt string
		FirstName, LastName        *string
		Houses                     []json.RawMessage
		CustomChecklists           []json.RawMessage
	}
	pwa.ok("GET", "/users/me", "", http.StatusOK, &me)
	if me.ID != signed.User.ID || me.Email != email || *me.FirstName != "Ada" || *me.LastName != "Lovelace" || me.Role != "user" ||
		!pwaISO.MatchString(me.CreatedAt) || me.Houses == nil || me.CustomChecklists == nil {
		t.Fatalf("/users/me %+v", me)
	}

	// SettingsPage: the base checklists, the editor's save, the user's checklists.
	saved := map[string]string{}
	for _, scope := range []string{"house", "room", "product"} {
		var base pwaChecklistRow
		pwa.ok("GET", "/checklists/base/"+scope, "", http.StatusOK, &base)
		if base.Scope != scope || !base.IsBase || base.UserID != nil || base.Version < 1 || !domain.ValidID(base.ID) ||
			!pwaISO.MatchString(base.CreatedAt) || len(base.ItemsRaw) < 2 || base.ItemsRaw[0] != '{' {
			t.Fatalf("base %s: %+v", scope, base)
		}
		items := pwaEditorChecklist(t, scope, base.ItemsRaw, stamp)
		var row pwaChecklistRow
		pwa.ok("PUT", "/checklists/scope/"+scope, fmt.Sprintf(`{"name":"Custom %s checklist","itemsRaw":%s}`, scope, items), http.StatusOK, &row)
		if row.Scope != scope || row.IsBase || row.UserID == nil || *row.UserID != me.ID || string(row.ItemsRaw) != items {
			t.Fatalf("saved %s: %+v", scope, row)
		}
		saved[scope] = items
	}
	var mine []struct {
		ID, Scope, Name, CreatedAt string
		Version                    int
		ItemsRaw                   json.RawMessage
	}
	pwa.ok("GET", "/users/me/checklists", "", http.StatusOK, &mine)
	for _, scope := range []string{"house", "room", "product"} {
		// The settings page takes the first element of the scope.
		found := false
		for _, c := range mine {
			if c.Scope == scope {
				if string(c.ItemsRaw) != saved[scope] || !pwaISO.MatchString(c.CreatedAt) {
					t.Fatalf("my %s checklist: %+v", scope, c)
				}
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("no %s checklist in %+v", scope, mine)
		}
	}
	// A user is not an admin: the base checklist upload is refused.
	if r := pwa.call("PUT", "/checklists/base/house", `{"name":"Base house checklist","version":1,"itemsRaw":{}}`); r.Status != http.StatusForbidden ||
		!strings.Contains(string(r.Body), "Only admins can update base checklists") {
		t.Fatalf("non-admin base upload: %d %s", r.Status, r.Body)
	}

	// ProcessingPage: create, upload as the page groups photos, process.
	var created struct{ ScanID, HouseID, Status string }
	pwa.ok("POST", "/scans", `{"address":"12 Harbour Road"}`, http.StatusCreated, &created)
	if !domain.ValidID(created.ScanID) || !domain.ValidID(created.HouseID) || created.Status != "queued" {
		t.Fatalf("created %+v", created)
	}
	scanPath := "/scans/" + created.ScanID
	access, _ := pwa.tokens()
	// One group per capture room, indices into [...images, ...pendingRoomImages], as strings.
	up := srv.upload("/api/v1"+scanPath+"/images", access, photos(t), map[string]string{"rooms": `[{"imageIndices":["0"]},{"imageIndices":["1"]}]`})
	if up.Status == http.StatusUnauthorized { // the token expired on the way: refresh and replay
		pwa.ok("GET", "/users/me", "", http.StatusOK, nil)
		access, _ = pwa.tokens()
		up = srv.upload("/api/v1"+scanPath+"/images", access, photos(t), map[string]string{"rooms": `[{"imageIndices":["0"]},{"imageIndices":["1"]}]`})
	}
	if up.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", up.Status, up.Body)
	}
	var uploaded struct {
		ScanID                  string
		RoomsCount, ImagesCount int
		Message                 string
	}
	up.data(t, &uploaded)
	if uploaded.ScanID != created.ScanID || uploaded.RoomsCount != 2 || uploaded.ImagesCount != 2 || uploaded.Message != "Images uploaded successfully" {
		t.Fatalf("uploaded %+v", uploaded)
	}
	var processing struct{ ScanID, Status, Message string }
	pwa.ok("POST", scanPath+"/process", `{}`, http.StatusCreated, &processing)
	if processing.ScanID != created.ScanID || processing.Status != "running" || processing.Message != "Scan processing started" {
		t.Fatalf("process %+v", processing)
	}

	// ScanSummaryPage: GET /scans/:id until it succeeded.
	var sc pwaScan
	deadline := time.Now().Add(2 * time.Minute)
	for {
		sc = pwaScan{}
		pwa.ok("GET", scanPath, "", http.StatusOK, &sc)
		if sc.Status == "succeeded" || sc.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	pwaCheckSummary(t, sc, created.ScanID)

	// HistoryPage.
	var history []pwaHistoryItem
	pwa.ok("GET", "/users/me/scans", "", http.StatusOK, &history)
	if len(history) != 1 || history[0].ID != created.ScanID || history[0].Status != "succeeded" || !pwaISO.MatchString(history[0].CreatedAt) ||
		history[0].DetectedHouseTypes == nil || history[0].House.Address == nil || *history[0].House.Address != "12 Harbour Road" ||
		history[0].Address == nil || *history[0].Address != "12 Harbour Road" || len(history[0].Rooms) != 2 || len(history[0].Images) != 2 ||
		history[0].AgentRuns == nil {
		t.Fatalf("history %+v", history)
	}

	// The settings page again: the house now shows in the profile.
	var profile struct {
		Houses []struct {
			ID    string
			Count struct{ Scans int } `json:"_count"`
		}
	}
	pwa.ok("GET", "/users/me", "", http.StatusOK, &profile)
	if len(profile.Houses) != 1 || profile.Houses[0].ID != created.HouseID || profile.Houses[0].Count.Scans != 1 {
		t.Fatalf("profile houses %+v", profile.Houses)
	}

	t.Run("an expired access token is refreshed by parallel refreshes with one refresh token", func(t *testing.T) {
		pwaRefreshDance(t, srv, pwa)
	})
	t.Run("a refresh token is refused as a Bearer token", func(t *testing.T) {
		_, refresh := pwa.tokens()
		if r := srv.json("GET", "/api/v1/users/me", refresh, ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("refresh token as Bearer: %d %s", r.Status, r.Body)
		}
	})
	t.Run("another user can reach none of this user's scans or checklists", func(t *testing.T) {
		pwaIsolation(t, srv, created.ScanID, mine[0].ID)
	})

	// HistoryPage: delete, then the history is empty.
	var deleted struct {
		Message, ScanID, HouseID string
		HouseDeleted             bool
	}
	pwa.ok("DELETE", scanPath, "", http.StatusOK, &deleted)
	if deleted.Message != "Scan deleted successfully" || deleted.ScanID != created.ScanID || !deleted.HouseDeleted || deleted.HouseID != created.HouseID {
		t.Fatalf("deleted %+v", deleted)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		history = nil
		pwa.ok("GET", "/users/me/scans", "", http.StatusOK, &history)
		if len(history) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history after delete: %+v", history)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := pwa.call("GET", scanPath, ""); r.Status != http.StatusNotFound {
		t.Fatalf("deleted scan: %d %s", r.Status, r.Body)
	}
}

// pwaCheckSummary asserts every field the summary pages read (contract 1.5-11).
func pwaCheckSummary(t *testing.T, sc pwaScan, scanID string) {
	t.Helper()
	if sc.ID != scanID || sc.Status != "succeeded" || !pwaISO.MatchString(sc.CreatedAt) || sc.FinishedAt == nil || !pwaISO.MatchString(*sc.FinishedAt) ||
		sc.DetectedHouseTypes == nil || sc.House.Address == nil || *sc.House.Address != "12 Harbour Road" {
		t.Fatalf("scan %+v", sc)
	}
	if len(sc.Rooms) != 2 || len(sc.Images) != 2 {
		t.Fatalf("rooms %+v images %+v", sc.Rooms, sc.Images)
	}
	for i, r := range sc.Rooms {
		if !domain.ValidID(r.ID) || r.Ordinal != i || r.Label != fmt.Sprintf("Room %d", i+1) || r.DetectedRoomTypes == nil || len(r.Images) != 1 {
			t.Fatalf("room %d: %+v", i, r)
		}
	}
	for _, im := range sc.Images {
		resp, err := http.Get(im.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !domain.ValidID(im.ID) || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/") {
			t.Fatalf("photo %s: %d %s", im.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	s := sc.Summary
	if s == nil {
		t.Fatal("no summary")
	}
	sj := s.SummaryJSON
	if sj.House == nil || sj.House.BooleansTrue == nil || sj.House.Categoricals == nil || sj.Rooms == nil || sj.Products == nil {
		t.Fatalf("summaryJson %+v", sj)
	}
	for _, r := range sc.Rooms {
		for name, answers := range map[string]map[string]pwaAnswers{"rooms": sj.Rooms, "products": sj.Products} {
			if a, found := answers[r.ID]; found && (a.BooleansTrue == nil || a.Categoricals == nil) {
				t.Fatalf("summaryJson.%s[%s] %+v", name, r.ID, a)
			}
		}
	}
	for _, scope := range []string{"house", "rooms", "products"} {
		if _, found := sj.ChecklistMetadata[scope]; !found {
			t.Fatalf("checklist_metadata has no %s", scope)
		}
	}
	if s.ProsConsJSON.Pros == nil || s.ProsConsJSON.Cons == nil {
		t.Fatalf("prosConsJson %+v", s.ProsConsJSON)
	}
	// No paid analysis ran with the built-in analyzer: costSummary is null (as the
	// original sent it before an analysis), so the page shows no cost tile, never a
	// stray "0" from its `total_estimated_usd && (...)`.
	if string(s.CostSummary) != "null" {
		t.Fatalf("costSummary %s, want null after the built-in analyzer", s.CostSummary)
	}
	for _, run := range sc.AgentRuns {
		if !domain.ValidID(run.ID) || run.AgentName != "image checks" || run.TokensIn == nil || run.TokensOut == nil || run.CostUSD == nil {
			t.Fatalf("agent run %+v", run)
		}
	}
}

// pwaRefreshDance: once the access token expired, every request the page had in flight
// gets a 401 and each fires its own refresh with the same stored refresh token, at
// once; all must succeed, and every replay too.
func pwaRefreshDance(t *testing.T, srv *server, pwa *pwaClient) {
	access, refresh := pwa.tokens()
	time.Sleep(time.Until(pwaExpiry(t, access).Add(pwaTokenLeeway + time.Second)))
	paths := []string{"/users/me", "/users/me/scans", "/users/me/checklists", "/checklists/base/house", "/checklists/base/room"}
	var wg sync.WaitGroup
	got401 := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(len(paths))
	errs := make(chan string, len(paths))
	for _, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := srv.json("GET", "/api/v1"+path, access, "")
			arrived.Done()
			if r.Status != http.StatusUnauthorized {
				errs <- fmt.Sprintf("%s with an expired token: %d", path, r.Status)
				return
			}
			<-got401 // every request has its 401: refresh all at once
			rr := srv.json("POST", "/api/v1/auth/refresh", "", fmt.Sprintf(`{"refreshToken":%q}`, refresh))
			if rr.Status != http.StatusCreated {
				errs <- fmt.Sprintf("parallel refresh for %s: %d %s", path, rr.Status, rr.Body)
				return
			}
			var env struct{ Data pwaAuthResponse }
			if err := json.Unmarshal(rr.Body, &env); err != nil || env.Data.AccessToken == "" {
				errs <- fmt.Sprintf("parallel refresh for %s: %s", path, rr.Body)
				return
			}
			a := env.Data
			pwa.store(a)
			if r := srv.json("GET", "/api/v1"+path, a.AccessToken, ""); r.Status != http.StatusOK {
				errs <- fmt.Sprintf("replay of %s: %d %s", path, r.Status, r.Body)
			}
		}()
	}
	arrived.Wait()
	close(got401)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// pwaIsolation signs up a second user and tries every route on the first user's scan
// and checklist.
func pwaIsolation(t *testing.T, srv *server, scanID, checklistID string) {
	other := &pwaClient{t: t, srv: srv}
	other.auth("/auth/signup", fmt.Sprintf(`{"email":"bob.%d@example.com","password":"secret1","firstName":"Bob","lastName":"B"}`, time.Now().UnixNano()))
	scanPath := "/scans/" + scanID
	for _, c := range []struct{ method, path, body string }{
		{"GET", scanPath, ""},
		{"POST", scanPath + "/process", `{}`},
		{"DELETE", scanPath, ""},
		{"GET", scanPath + "/events", ""},
		{"GET", scanPath + "/verify", ""},
		{"PATCH", "/checklists/" + checklistID, `{"name":"mine now"}`},
	} {
		if r := other.call(c.method, c.path, c.body); r.Status != http.StatusNotFound {
			t.Errorf("%s %s as another user: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	access, _ := other.tokens()
	if r := srv.upload("/api/v1"+scanPath+"/images", access, photos(t)[:1], nil); r.Status != http.StatusNotFound {
		t.Errorf("upload to another user's scan: %d %s", r.Status, r.Body)
	}
	var scans, lists []json.RawMessage
	other.ok("GET", "/users/me/scans", "", http.StatusOK, &scans)
	other.ok("GET", "/users/me/checklists", "", http.StatusOK, &lists)
	if len(scans) != 0 || len(lists) != 0 {
		t.Errorf("another user lists %d scans and %d checklists", len(scans), len(lists))
	}
	var me struct {
		Houses           []json.RawMessage
		CustomChecklists []json.RawMessage
	}
	other.ok("GET", "/users/me", "", http.StatusOK, &me)
	if len(me.Houses) != 0 || len(me.CustomChecklists) != 0 {
		t.Errorf("another user's profile shows %d houses and %d checklists", len(me.Houses), len(me.CustomChecklists))
	}
}
