package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/trail"
)

// Contract tests for the rest of the original REST surface (contract section 3, the
// rows without a star): /admin/*, /models-info and /agents-runs, on SQLite and
// PostgreSQL.

// adminReads are the console's GET routes.
var adminReads = []string{"/admin/dashboard", "/admin/houses", "/admin/scans", "/admin/agent-runs", "/admin/models",
	"/admin/checklists/base"}

func TestAdminRoutesFollowTheStoredRoleOnEveryRequest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, api *consoleAPI) {
		user, _ := api.user("user@example.com", auth.RoleUser)
		admin, _ := api.user("admin@example.com", auth.RoleAdmin)
		auditor, _ := api.user("auditor@example.com", auth.RoleAuditor)
		var base []struct{ ID string }
		api.json("GET", "/admin/checklists/base", admin, "").want(t, http.StatusOK).data(t, &base)
		id := base[0].ID
		price := `{"provider":"openai","modelName":"gpt-4o-mini","pricing":{"inputPerMillion":0.15,"outputPerMillion":0.6},"effectiveFrom":"2020-01-01T00:00:00.000Z"}`
		changes := [][3]string{
			{"POST", "/models-info", price},
			{"PATCH", "/admin/checklists/" + id, `{"name":"Base house checklist"}`},
			{"PATCH", "/admin/checklists/" + id + "/toggle", `{"enable":true}`},
		}
		for _, bearer := range []string{user, auditor} {
			for _, path := range adminReads {
				if m := api.json("GET", path, bearer, "").want(t, http.StatusForbidden).message(t); m != "Forbidden resource" {
					t.Fatalf("GET %s: %q", path, m)
				}
			}
			for _, c := range changes {
				api.json(c[0], c[1], bearer, c[2]).want(t, http.StatusForbidden)
			}
		}
		// A token that claims admin for a user whose stored role is user gets nothing.
		_, userID := api.user("forger@example.com", auth.RoleUser)
		forged, _, err := api.tokens.Issue(auth.Access, userID, auth.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		api.json("GET", "/admin/dashboard", forged, "").want(t, http.StatusForbidden)

		// The admin's token says "user" (it was issued at signup): the stored role decides.
		for _, path := range adminReads {
			api.json("GET", path, admin, "").want(t, http.StatusOK)
		}
		api.json(changes[0][0], changes[0][1], admin, changes[0][2]).want(t, http.StatusCreated)
		api.json(changes[1][0], changes[1][1], admin, changes[1][2]).want(t, http.StatusOK)
		api.json(changes[2][0], changes[2][1], admin, changes[2][2]).want(t, http.StatusOK)

		// Demoted: the same, unexpired token is refused on the very next request.
		if err := api.accounts.SetRole(context.Background(), "admin@example.com", auth.RoleUser); err != nil {
			t.Fatal(err)
		}
		for _, path := range adminReads {
			api.json("GET", path, admin, "").want(t, http.StatusForbidden)
		}
		for _, c := range changes {
			api.json(c[0], c[1], admin, c[2]).want(t, http.StatusForbidden)
		}
		api.json("GET", "/admin/dashboard", "", "").want(t, http.StatusUnauthorized)
	})
}

func TestAdminListsHaveTheOriginalsShapesAndPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, api *consoleAPI) {
		admin, _ := api.user("admin@example.com", auth.RoleAdmin)
		ada, adaID := api.user("ada@example.com", auth.RoleUser)
		api.json("POST", "/models-info", admin, `{"provider":"openai","modelName":"gpt-4o-mini","pricing":{"inputPerMillion":0.15,"outputPerMillion":0.6},"effectiveFrom":"2020-01-01"}`).
			want(t, http.StatusCreated)
		ids := []string{
			api.completeScan(ada, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			api.createScan(ada),
			api.createScan(ada),
		}

		// The read model follows the events within milliseconds: wait for the uploads.
		acctEventually(t, "three scans with their photos in the read model", func() bool {
			var all []struct {
				Count struct{ Images int } `json:"_count"`
			}
			api.json("GET", "/admin/scans", admin, "").want(t, http.StatusOK).data(t, &all)
			n := 0
			for _, sc := range all {
				n += sc.Count.Images
			}
			return n == 3
		})

		var dash map[string]int
		r := api.json("GET", "/admin/dashboard", admin, "").want(t, http.StatusOK)
		r.data(t, &dash)
		startsWith(t, "dashboard", json.RawMessage(strings.TrimSuffix(strings.TrimPrefix(string(r.body), `{"data":`), "}")),
			"users", "houses", "scans", "baseChecklists")
		if dash["users"] != 2 || dash["houses"] != 3 || dash["scans"] != 3 || dash["baseChecklists"] != 3 {
			t.Fatalf("dashboard %v", dash)
		}

		// Scans: newest first, two pages of 2 and 1, no overlap, the original's fields first.
		first, next := api.json("GET", "/admin/scans?limit=2", admin, "").want(t, http.StatusOK).list(t)
		if len(first) != 2 || next == "" {
			t.Fatalf("first page: %d rows, next %q", len(first), next)
		}
		second, last := api.json("GET", "/admin/scans?limit=2&cursor="+next, admin, "").want(t, http.StatusOK).list(t)
		if len(second) != 1 || last != "" {
			t.Fatalf("second page: %d rows, next %q", len(second), last)
		}
		var got []string
		for _, raw := range append(first, second...) {
			startsWith(t, "scan", raw, "id", "houseId", "status", "inputsSnapshot", "detectedHouseTypes", "startedAt",
				"finishedAt", "createdAt", "house", "_count")
			var sc struct {
				ID    string
				House struct {
					ID, Address string
					User        struct{ ID, Email string }
				}
				Count struct{ Rooms, Images, AgentRuns int } `json:"_count"`
			}
			if err := json.Unmarshal(raw, &sc); err != nil {
				t.Fatal(err)
			}
			if sc.House.User.ID != adaID || sc.House.User.Email != "ada@example.com" || sc.House.Address != "1 Test Street" ||
				sc.Count.Rooms != 1 || sc.Count.Images != 1 {
				t.Fatalf("scan row %s", raw)
			}
			if sc.ID == ids[0] && sc.Count.AgentRuns != 2 {
				t.Fatalf("completed scan's runs: %s", raw)
			}
			got = append(got, sc.ID)
		}
		if got[0] != ids[2] || got[1] != ids[1] || got[2] != ids[0] {
			t.Fatalf("order %v, want newest first %v", got, ids)
		}

		houses, _ := api.json("GET", "/admin/houses", admin, "").want(t, http.StatusOK).list(t)
		if len(houses) != 3 {
			t.Fatalf("houses %d", len(houses))
		}
		startsWith(t, "house", houses[0], "id", "userId", "address", "houseType", "status", "createdAt", "updatedAt", "user", "_count")
		var h struct {
			User  struct{ ID, Email string }
			Count struct{ Scans int } `json:"_count"`
		}
		_ = json.Unmarshal(houses[0], &h)
		if h.User.Email != "ada@example.com" || h.Count.Scans != 1 {
			t.Fatalf("house %s", houses[0])
		}

		runs, _ := api.json("GET", "/admin/agent-runs", admin, "").want(t, http.StatusOK).list(t)
		if len(runs) != 2 {
			t.Fatalf("runs %d", len(runs))
		}
		for _, raw := range runs {
			startsWith(t, "agent run", raw, "id", "scanId", "agentName", "modelId", "inputJson", "outputJson", "promptHash",
				"tokensIn", "tokensOut", "costUsd", "cacheHit", "startedAt", "finishedAt", "createdAt", "scan", "model")
			var run struct {
				ScanID    string
				InputJSON json.RawMessage
				Scan      struct {
					ID    string
					House struct {
						Address string
						User    struct{ Email string }
					}
				}
				Model struct{ ModelName, Provider string }
			}
			_ = json.Unmarshal(raw, &run)
			if run.Scan.ID != ids[0] || run.Scan.House.Address != "1 Test Street" || run.Scan.House.User.Email != "ada@example.com" ||
				run.Model.ModelName != "gpt-4o-mini" || run.Model.Provider != "openai" || string(run.InputJSON) != "null" {
				t.Fatalf("agent run %s", raw)
			}
		}

		models, _ := api.json("GET", "/admin/models", admin, "").want(t, http.StatusOK).list(t)
		if len(models) != 1 {
			t.Fatalf("models %d", len(models))
		}
		startsWith(t, "model", models[0], "id", "provider", "modelName", "version", "pricing", "effectiveFrom", "effectiveTo",
			"createdAt", "_count")
		var m struct {
			Count struct{ AgentRuns int } `json:"_count"`
		}
		_ = json.Unmarshal(models[0], &m)
		if m.Count.AgentRuns != 2 {
			t.Fatalf("model %s", models[0])
		}

		base, _ := api.json("GET", "/admin/checklists/base?limit=200", admin, "").want(t, http.StatusOK).list(t)
		if len(base) != 3 {
			t.Fatalf("base checklists %d", len(base))
		}
		for _, raw := range base {
			startsWith(t, "base checklist", raw, "id", "scope", "name", "version", "itemsRaw", "createdAt")
		}

		// Reading users' data in the console is in the trail, with who did it.
		for _, what := range []string{"console:houses", "console:scans", "console:agent-runs"} {
			found := false
			for _, e := range api.trail.find(trail.ReadUser) {
				found = found || e.Subject == what && e.ActorRole == auth.RoleAdmin && domain.ValidID(e.ActorID)
			}
			if !found {
				t.Fatalf("no trail entry for %s: %+v", what, api.trail.find(trail.ReadUser))
			}
		}

		// Bad paging is a 400, never a 500.
		for _, q := range []string{"?limit=0", "?limit=201", "?limit=ten", "?cursor=garbage", "?cursor=" + strings.Repeat("A", 40), "?page=2"} {
			api.json("GET", "/admin/houses"+q, admin, "").want(t, http.StatusBadRequest).messages(t)
		}
	})
}

func TestTheToggleOnlyEnablesOrDisablesBaseChecklists(t *testing.T) {
	forEachEngine(t, func(t *testing.T, api *consoleAPI) {
		admin, adminID := api.user("admin@example.com", auth.RoleAdmin)
		ada, _ := api.user("ada@example.com", auth.RoleUser)
		private := api.json("PUT", "/checklists/scope/house", ada, `{"itemsRaw":`+customHouse+`}`).want(t, http.StatusOK).row(t)
		house := api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK).row(t)

		// A user's private checklist is never promoted, whatever the body says: 404.
		for _, enable := range []string{"true", "false"} {
			if m := api.json("PATCH", "/admin/checklists/"+private.ID+"/toggle", admin, `{"enable":`+enable+`}`).
				want(t, http.StatusNotFound).message(t); m != "Checklist not found" {
				t.Fatalf("message %q", m)
			}
		}
		api.json("PATCH", "/admin/checklists/"+private.ID, admin, `{"name":"hijacked"}`).want(t, http.StatusNotFound)
		var mine []checklistRow
		api.json("GET", "/users/me/checklists", ada, "").want(t, http.StatusOK).data(t, &mine)
		if len(mine) != 1 || mine[0].ID != private.ID || mine[0].Name != "Custom house checklist" {
			t.Fatalf("the private checklist changed: %+v", mine)
		}
		if again := api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK).row(t); again.ID != house.ID {
			t.Fatalf("the base changed: %+v", again)
		}
		// Unknown and malformed ids are 404, not 500.
		for _, id := range []string{domain.NewID(), "not-a-uuid", "'%3B--"} {
			api.json("PATCH", "/admin/checklists/"+id+"/toggle", admin, `{"enable":false}`).want(t, http.StatusNotFound)
			api.json("PATCH", "/admin/checklists/"+id, admin, `{"name":"x"}`).want(t, http.StatusNotFound)
		}
		// A bad body is a 400 listing the problem.
		for _, body := range []string{`{}`, `{"enable":"yes"}`, `{"enable":true,"isBase":true}`} {
			api.json("PATCH", "/admin/checklists/"+house.ID+"/toggle", admin, body).want(t, http.StatusBadRequest).messages(t)
		}
		if n := len(api.trail.find(trail.ChangeBaseList)); n != 0 {
			t.Fatalf("refused changes were recorded: %d", n)
		}

		// Disabling the base takes it out of GET /checklists/base and of the merge.
		var toggled struct {
			ID      string
			IsBase  bool
			UserID  *string
			Enabled bool
		}
		r := api.json("PATCH", "/admin/checklists/"+house.ID+"/toggle", admin, `{"enable":false}`).want(t, http.StatusOK)
		r.data(t, &toggled)
		startsWith(t, "toggled", json.RawMessage(strings.TrimSuffix(strings.TrimPrefix(string(r.body), `{"data":`), "}")),
			"id", "scope", "name", "version", "isBase", "userId", "itemsRaw", "createdAt", "enabled")
		if toggled.ID != house.ID || !toggled.IsBase || toggled.UserID != nil || toggled.Enabled {
			t.Fatalf("toggled %+v", toggled)
		}
		if b := api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK); string(b.body) != `{"data":null}` {
			t.Fatalf("a disabled base is still served: %s", b.body)
		}
		merged, err := api.accounts.Merged(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if string(merged.House) != "{}" {
			t.Fatalf("a disabled base is still merged: %s", merged.House)
		}
		var listed []struct {
			ID      string
			Enabled bool
		}
		api.json("GET", "/admin/checklists/base", admin, "").want(t, http.StatusOK).data(t, &listed)
		for _, l := range listed {
			if l.ID == house.ID && l.Enabled {
				t.Fatalf("listed as enabled: %+v", l)
			}
		}
		api.json("PATCH", "/admin/checklists/"+house.ID+"/toggle", admin, `{"enable":true}`).want(t, http.StatusOK)
		if again := api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK).row(t); again.ID != house.ID {
			t.Fatalf("re-enabled base %+v", again)
		}

		// Both toggles are in the trail with who, in which role, and what.
		entries := api.trail.find(trail.ChangeBaseList)
		if len(entries) != 2 {
			t.Fatalf("trail %+v", entries)
		}
		for i, verb := range []string{"disabled", "enabled"} {
			e := entries[i]
			if e.ActorID != adminID || e.ActorRole != auth.RoleAdmin || e.Subject != "checklist:"+house.ID ||
				!strings.HasPrefix(e.Detail, verb+" the base house checklist") {
				t.Fatalf("entry %d: %+v", i, e)
			}
		}

		// When the trail cannot record it, the change is not made.
		api.trail.failing(true)
		api.json("PATCH", "/admin/checklists/"+house.ID+"/toggle", admin, `{"enable":false}`).want(t, http.StatusInternalServerError)
		api.trail.failing(false)
		api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK).row(t)

		// The settings page's upload puts a disabled base back in effect.
		api.json("PATCH", "/admin/checklists/"+house.ID+"/toggle", admin, `{"enable":false}`).want(t, http.StatusOK)
		api.json("PUT", "/checklists/base/house", admin, `{"name":"Base house checklist","version":1}`).want(t, http.StatusOK)
		if again := api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK).row(t); again.ID != house.ID {
			t.Fatalf("after the upload %+v", again)
		}
	})
}

func TestAdminEditsABaseChecklistsNameAndItems(t *testing.T) {
	forEachEngine(t, func(t *testing.T, api *consoleAPI) {
		admin, adminID := api.user("admin@example.com", auth.RoleAdmin)
		ada, _ := api.user("ada@example.com", auth.RoleUser)
		house := api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK).row(t)
		items := `{"default":{"description":"All","items":[{"id":"water_damage","title":"Water Damage","type":"boolean"}]},"house_types":{"villa":{"description":"Villa","items":[]}}}`
		var edited struct {
			checklistRow
			Enabled bool
		}
		api.json("PATCH", "/admin/checklists/"+house.ID, admin, `{"name":"House v2","itemsRaw":`+items+`}`).
			want(t, http.StatusOK).data(t, &edited)
		if edited.ID != house.ID || edited.Name != "House v2" || string(edited.ItemsRaw) != items || !edited.IsBase || !edited.Enabled ||
			edited.Version != house.Version {
			t.Fatalf("edited %+v", edited)
		}
		if now := api.json("GET", "/checklists/base/house", ada, "").want(t, http.StatusOK).row(t); string(now.ItemsRaw) != items {
			t.Fatalf("users get %s", now.ItemsRaw)
		}
		// Items the agents would refuse, unknown properties and wrong types are 400s.
		for _, body := range []string{
			`{"itemsRaw":{"default":{"items":[{"id":"x","type":"boolean","colour":"red"}]}}}`,
			`{"itemsRaw":[1]}`, `{"name":7}`, `{"version":3}`,
		} {
			api.json("PATCH", "/admin/checklists/"+house.ID, admin, body).want(t, http.StatusBadRequest).messages(t)
		}
		entries := api.trail.find(trail.ChangeBaseList)
		if len(entries) != 1 || entries[0].ActorID != adminID || entries[0].Subject != "checklist:"+house.ID ||
			entries[0].Detail != "edited the base house checklist (name, itemsRaw)" {
			t.Fatalf("trail %+v", entries)
		}
		// The base-checklist upload of the settings page is in the trail too.
		api.json("PUT", "/checklists/base/room", admin, `{"name":"Base room checklist","version":1}`).want(t, http.StatusOK)
		if entries := api.trail.find(trail.ChangeBaseList); len(entries) != 2 || entries[1].Subject != "checklist:base:room" {
			t.Fatalf("trail %+v", entries)
		}
	})
}

func TestModelPricesHaveEffectiveDatesAndNeverRewritePastRuns(t *testing.T) {
	forEachEngine(t, func(t *testing.T, api *consoleAPI) {
		admin, adminID := api.user("admin@example.com", auth.RoleAdmin)
		ada, _ := api.user("ada@example.com", auth.RoleUser)
		post := func(body string) map[string]json.RawMessage {
			var out map[string]json.RawMessage
			r := api.json("POST", "/models-info", admin, body).want(t, http.StatusCreated)
			r.data(t, &out)
			return out
		}
		v1 := post(`{"provider":"openai","modelName":"gpt-4o-mini","version":"2024-07-18","pricing":{"inputPerMillion":0.15,"outputPerMillion":0.6},"effectiveFrom":"2020-01-01T00:00:00Z"}`)
		if string(v1["effectiveFrom"]) != `"2020-01-01T00:00:00.000Z"` || string(v1["effectiveTo"]) != "null" ||
			string(v1["pricing"]) != `{"inputPerMillion":0.15,"outputPerMillion":0.6}` || string(v1["version"]) != `"2024-07-18"` {
			t.Fatalf("posted %v", v1)
		}
		first := api.completeScan(ada, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

		// A new price from a later date, and a change of the old one: the run keeps its cost.
		post(`{"provider":"openai","modelName":"gpt-4o-mini","pricing":{"inputPerMillion":1.5,"outputPerMillion":6},"effectiveFrom":"2026-06-01T00:00:00.000Z"}`)
		again := post(`{"provider":"openai","modelName":"gpt-4o-mini","version":"2024-07-18","pricing":{"inputPerMillion":15,"outputPerMillion":60},"effectiveFrom":"2020-01-01T00:00:00.000Z"}`)
		if string(again["id"]) != string(v1["id"]) {
			t.Fatalf("(modelName, effectiveFrom) is unique: a second row %s", again["id"])
		}
		second := api.completeScan(ada, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))

		costs := func(scanID string) map[string]string {
			var runs []struct {
				AgentName string
				CostUSD   string `json:"costUsd"`
				ModelID   *string
			}
			api.json("GET", "/agents-runs?scanId="+scanID, ada, "").want(t, http.StatusOK).data(t, &runs)
			out := map[string]string{}
			for _, r := range runs {
				out[r.AgentName] = r.CostUSD
				if r.ModelID == nil {
					t.Fatalf("run %+v is not linked to its price", r)
				}
			}
			return out
		}
		if c := costs(first); c["house type"] != "0.00006" || c["pros/cons analysis"] != "0.0003" {
			t.Fatalf("first scan's runs: %v", c)
		}
		if c := costs(second); c["house type"] != "0.0006" || c["pros/cons analysis"] != "0.003" {
			t.Fatalf("second scan's runs: %v", c)
		}

		// The summary page and the analytics view read the same numbers.
		var sc struct {
			Summary struct {
				CostSummary struct {
					Costs struct {
						TotalEstimatedUSD float64 `json:"total_estimated_usd"`
					}
				}
			}
		}
		api.json("GET", "/scans/"+first, ada, "").want(t, http.StatusOK).data(t, &sc)
		if sc.Summary.CostSummary.Costs.TotalEstimatedUSD != 0.00036 {
			t.Fatalf("summary cost %v", sc.Summary.CostSummary.Costs.TotalEstimatedUSD)
		}
		var usd float64
		if err := api.read.QueryRowContext(context.Background(), `SELECT sum(cost_usd) FROM agent_costs_daily`).Scan(&usd); err != nil {
			t.Fatal(err)
		}
		if d := usd - (0.00036 + 0.0036); d > 1e-12 || d < -1e-12 {
			t.Fatalf("agent_costs_daily says %v", usd)
		}

		// GET /models-info: latest effective date first, filtered by model and provider.
		var list []map[string]json.RawMessage
		r := api.json("GET", "/models-info?modelName=gpt-4o-mini&provider=openai", ada, "").want(t, http.StatusOK)
		r.data(t, &list)
		if len(list) != 2 || string(list[0]["effectiveFrom"]) != `"2026-06-01T00:00:00.000Z"` {
			t.Fatalf("models-info %v", list)
		}
		var raws []json.RawMessage
		r.data(t, &raws)
		startsWith(t, "models-info", raws[0], "id", "provider", "modelName", "version", "pricing", "effectiveFrom", "effectiveTo", "createdAt")
		api.json("GET", "/models-info?provider=anthropic", ada, "").want(t, http.StatusOK).data(t, &list)
		if len(list) != 0 {
			t.Fatalf("filtered %v", list)
		}
		api.json("GET", "/models-info?model=x", ada, "").want(t, http.StatusBadRequest).messages(t)

		// Every price set is in the trail, with who.
		entries := api.trail.find(trail.SetModelPrice)
		if len(entries) != 3 || entries[0].ActorID != adminID || entries[0].Subject != "model:gpt-4o-mini" ||
			!strings.Contains(entries[0].Detail, "2020-01-01T00:00:00Z") {
			t.Fatalf("trail %+v", entries)
		}

		// Bad bodies are 400s listing every problem.
		for body, want := range map[string]string{
			`{}`: "provider must be a string",
			`{"provider":"","modelName":"m","pricing":{},"effectiveFrom":"2020-01-01"}`:                             "provider should not be empty",
			`{"provider":"p","modelName":"m","pricing":"cheap","effectiveFrom":"2020-01-01"}`:                       "pricing must be an object",
			`{"provider":"p","modelName":"m","pricing":{},"effectiveFrom":"yesterday"}`:                             "effectiveFrom must be a valid ISO 8601 date string",
			`{"provider":"p","modelName":"m","pricing":{"inputPerMillion":-1},"effectiveFrom":"2020-01-01"}`:        "pricing.inputPerMillion must be a non-negative number of US dollars per million tokens",
			`{"provider":"p","modelName":"m","pricing":{},"effectiveFrom":"2020-01-01","effectiveTo":"2019-01-01"}`: "effectiveTo must be later than effectiveFrom",
			`{"provider":"p","modelName":"m","pricing":{},"effectiveFrom":"2020-01-01","currency":"EUR"}`:           "property currency should not exist",
			`{"provider":"p","modelName":"m","version":3,"pricing":{},"effectiveFrom":"2020-01-01T00:00:00.000Z"}`:  "version must be a string",
		} {
			if m := api.json("POST", "/models-info", admin, body).want(t, http.StatusBadRequest).messages(t); !hasMessage(m, want) {
				t.Fatalf("%s: %v, want %q", body, m, want)
			}
		}
		if n := len(api.trail.find(trail.SetModelPrice)); n != 3 {
			t.Fatalf("refused prices were recorded: %d", n)
		}
	})
}

func TestAgentRunsAreTheOwnersAndAuditorsNeverSeeInputs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, api *consoleAPI) {
		ada, adaID := api.user("ada@example.com", auth.RoleUser)
		eve, _ := api.user("eve@example.com", auth.RoleUser)
		auditor, auditorID := api.user("auditor@example.com", auth.RoleAuditor)
		admin, _ := api.user("admin@example.com", auth.RoleAdmin)
		id := api.completeScan(ada, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

		r := api.json("GET", "/agents-runs?scanId="+id, ada, "").want(t, http.StatusOK)
		rows, _ := r.list(t)
		if len(rows) != 2 {
			t.Fatalf("runs %s", r.body)
		}
		for _, raw := range rows {
			startsWith(t, "agent run", raw, "id", "scanId", "agentName", "modelId", "inputJson", "outputJson", "promptHash",
				"tokensIn", "tokensOut", "costUsd", "cacheHit", "startedAt", "finishedAt", "createdAt")
		}
		var one []struct {
			AgentName string
			TokensIn  int
			TokensOut int
		}
		api.json("GET", "/agents-runs?scanId="+id+"&agentName=house%20type", ada, "").want(t, http.StatusOK).data(t, &one)
		if len(one) != 1 || one[0].TokensIn != 200 || one[0].TokensOut != 50 {
			t.Fatalf("filtered %+v", one)
		}

		// Someone else's scan is "not found", exactly like a missing one.
		if m := api.json("GET", "/agents-runs?scanId="+id, eve, "").want(t, http.StatusNotFound).message(t); m != "Scan not found" {
			t.Fatalf("message %q", m)
		}
		api.json("GET", "/agents-runs?scanId="+domain.NewID(), ada, "").want(t, http.StatusNotFound)
		if n := len(api.trail.find(trail.ReadScan)); n != 0 {
			t.Fatalf("the owner's reads were recorded: %d", n)
		}

		// Auditors and admins may read any scan's runs, never the inputs, and the read is
		// in the trail with whose data it was.
		for _, bearer := range []string{auditor, admin} {
			var runs []struct{ InputJSON json.RawMessage }
			api.json("GET", "/agents-runs?scanId="+id, bearer, "").want(t, http.StatusOK).data(t, &runs)
			if len(runs) != 2 || string(runs[0].InputJSON) != "null" {
				t.Fatalf("runs %+v", runs)
			}
		}
		reads := api.trail.find(trail.ReadScan)
		if len(reads) != 2 || reads[0].ActorID != auditorID || reads[0].ActorRole != auth.RoleAuditor ||
			reads[0].Subject != "scan:"+id || reads[0].OwnerID != adaID || reads[1].ActorRole != auth.RoleAdmin {
			t.Fatalf("trail %+v", reads)
		}
		// A read that cannot be recorded is not served.
		api.trail.failing(true)
		api.json("GET", "/agents-runs?scanId="+id, auditor, "").want(t, http.StatusInternalServerError)
		api.trail.failing(false)
		// A demoted auditor is refused at once.
		if err := api.accounts.SetRole(context.Background(), "auditor@example.com", auth.RoleUser); err != nil {
			t.Fatal(err)
		}
		api.json("GET", "/agents-runs?scanId="+id, auditor, "").want(t, http.StatusNotFound)

		// Bad queries are 400s.
		for _, q := range []string{"", "?scanId=42", "?scanId=" + id + "&limit=5"} {
			api.json("GET", "/agents-runs"+q, ada, "").want(t, http.StatusBadRequest).messages(t)
		}
	})
}
