package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/checklist"
)

// customHouse is what the PWA's settings editor saves for scope house (contract 6.3).
const customHouse = `{"default":{"items":[{"id":"item_1760","title":"Solar panels","type":"boolean","description":""}],"description":"Checklist items relevant to all house types"},"house_types":{"villa":{"items":[{"id":"pool","title":"Pool","type":"boolean"}],"description":"villa specific items"}}}`

// checklistRow is a full Checklist row on the wire.
type checklistRow struct {
	ID        string          `json:"id"`
	Scope     string          `json:"scope"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	IsBase    bool            `json:"isBase"`
	UserID    *string         `json:"userId"`
	ItemsRaw  json.RawMessage `json:"itemsRaw"`
	CreatedAt string          `json:"createdAt"`
}

func (r acctReply) row(t *testing.T) checklistRow {
	t.Helper()
	var raw map[string]json.RawMessage
	r.data(t, &raw)
	if len(raw) != 8 {
		t.Fatalf("a checklist row has exactly id, scope, name, version, isBase, userId, itemsRaw, createdAt: %s", r.body)
	}
	var c checklistRow
	r.data(t, &c)
	if !domain.ValidID(c.ID) || !isoMillis.MatchString(c.CreatedAt) {
		t.Fatalf("row %+v", c)
	}
	return c
}

func TestEveryUserGetsTheDefaultBaseChecklists(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	defaults, _ := checklist.Defaults()
	for _, sc := range checklist.Scopes() {
		c := api.json("GET", "/checklists/base/"+string(sc), a.AccessToken, "").want(t, http.StatusOK).row(t)
		if c.Scope != string(sc) || !c.IsBase || c.UserID != nil || c.Version != 1 || c.Name != "Base "+string(sc)+" checklist" {
			t.Fatalf("%s: %+v", sc, c)
		}
		if string(c.ItemsRaw) != string(defaults[sc]) {
			t.Fatalf("%s items differ from the defaults", sc)
		}
	}
}

func TestABaseChecklistThatDoesNotExistIsDataNull(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	if _, err := api.db.Write.Exec(`DELETE FROM checklists WHERE scope = 'product'`); err != nil {
		t.Fatal(err)
	}
	r := api.json("GET", "/checklists/base/product", a.AccessToken, "").want(t, http.StatusOK)
	if string(r.body) != `{"data":null}` {
		t.Fatalf("body %s", r.body)
	}
}

func TestAnUnknownScopeIs400NeverA500(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	for _, req := range [][2]string{{"GET", "/checklists/base/garage"}, {"PUT", "/checklists/scope/garage"}, {"PUT", "/checklists/base/%27%3B--"}} {
		api.json(req[0], req[1], a.AccessToken, `{}`).want(t, http.StatusBadRequest).messages(t)
	}
}

func TestOnlyAnAdminByStoredRoleMayPutABaseChecklist(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	body := `{"name":"Base house checklist","version":1,"itemsRaw":` + customHouse + `}`
	r := api.json("PUT", "/checklists/base/house", a.AccessToken, body).want(t, http.StatusForbidden)
	if m := r.message(t); m != "Only admins can update base checklists" {
		t.Fatalf("message %q", m)
	}
	// A token claiming admin is not enough: the role is read from the database.
	forged, _, err := api.tokens.Issue(auth.Access, a.User.ID, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	api.json("PUT", "/checklists/base/house", forged, body).want(t, http.StatusForbidden)

	if err := api.accounts.SetRole(context.Background(), "ada@example.com", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	c := api.json("PUT", "/checklists/base/house", a.AccessToken, body).want(t, http.StatusOK).row(t)
	if !c.IsBase || c.UserID != nil || c.Version != 1 {
		t.Fatalf("row %+v", c)
	}
	if string(c.ItemsRaw) != customHouse {
		t.Fatalf("itemsRaw not kept as sent (key order matters): %s", c.ItemsRaw)
	}
	base := api.json("GET", "/checklists/base/house", a.AccessToken, "").want(t, http.StatusOK).row(t)
	if base.ID != c.ID || string(base.ItemsRaw) != customHouse {
		t.Fatalf("base after the upload %+v", base)
	}
}

func TestAnInvalidChecklistIs400WithEveryProblem(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	got := api.json("PUT", "/checklists/scope/house", a.AccessToken,
		`{"itemsRaw":{"default":{"items":[{"id":"x","title":"X","type":"yes-no","colour":"red"}]}}}`).want(t, http.StatusBadRequest).messages(t)
	if len(got) != 2 {
		t.Fatalf("want both problems, got %q", got)
	}
	for body, want := range map[string]string{
		`{"itemsRaw":[1,2]}`: "itemsRaw must be an object",
		`{"version":"2"}`:    "version must be a number conforming to the specified constraints",
		`{"version":1.5}`:    "version must be an integer number",
		`{"name":5}`:         "name must be a string",
		`{"name":"x","itemsRaw":{},"extra":true}`: "property extra should not exist",
	} {
		if got := api.json("PUT", "/checklists/scope/room", a.AccessToken, body).want(t, http.StatusBadRequest).messages(t); !hasMessage(got, want) {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
}

func TestTheSettingsEditorSavesAndReadsBackACustomChecklist(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	created := api.json("PUT", "/checklists/scope/house", a.AccessToken, `{"name":"Custom house checklist","itemsRaw":`+customHouse+`}`).
		want(t, http.StatusOK).row(t)
	if created.IsBase || created.UserID == nil || *created.UserID != a.User.ID || created.Version != 1 || string(created.ItemsRaw) != customHouse {
		t.Fatalf("created %+v", created)
	}
	again := api.json("PUT", "/checklists/scope/house", a.AccessToken, `{"name":"Renamed"}`).want(t, http.StatusOK).row(t)
	if again.ID != created.ID || again.Name != "Renamed" || string(again.ItemsRaw) != customHouse {
		t.Fatalf("updated %+v", again)
	}
	api.json("PUT", "/checklists/scope/product", a.AccessToken, `{}`).want(t, http.StatusOK)

	var mine []map[string]json.RawMessage
	api.json("GET", "/users/me/checklists", a.AccessToken, "").want(t, http.StatusOK).data(t, &mine)
	if len(mine) != 2 || string(mine[0]["scope"]) != `"house"` || string(mine[1]["scope"]) != `"product"` {
		t.Fatalf("mine %v", mine)
	}
	if len(mine[0]) != 6 || string(mine[0]["itemsRaw"]) != customHouse {
		t.Fatalf("an element has exactly id, scope, name, version, itemsRaw, createdAt: %v", mine[0])
	}
}

func TestPatchChecklistChangesOnlyTheCallersOwnCustomChecklist(t *testing.T) {
	t.Parallel()
	api, a := newSignedInAPI(t)
	b := api.signup("bob@example.com")
	mine := api.json("PUT", "/checklists/scope/room", a.AccessToken, `{}`).want(t, http.StatusOK).row(t)
	base := api.json("GET", "/checklists/base/room", a.AccessToken, "").want(t, http.StatusOK).row(t)
	for _, c := range []struct{ bearer, id string }{
		{b.AccessToken, mine.ID}, {a.AccessToken, base.ID}, {a.AccessToken, domain.NewID()}, {a.AccessToken, "not-a-uuid"},
	} {
		if m := api.json("PATCH", "/checklists/"+c.id, c.bearer, `{"name":"taken"}`).want(t, http.StatusNotFound).message(t); m != "Checklist not found" {
			t.Fatalf("message %q", m)
		}
	}
	got := api.json("PATCH", "/checklists/"+mine.ID, a.AccessToken, `{"name":"Kitchen","version":2}`).want(t, http.StatusOK).row(t)
	if got.ID != mine.ID || got.Name != "Kitchen" || got.Version != 2 {
		t.Fatalf("patched %+v", got)
	}
	var bobs []any
	api.json("GET", "/users/me/checklists", b.AccessToken, "").want(t, http.StatusOK).data(t, &bobs)
	if len(bobs) != 0 {
		t.Fatalf("bob sees %v", bobs)
	}
}
