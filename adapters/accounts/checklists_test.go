package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/checklist"
	"github.com/scanledger/scanledger/domain/scan"
)

const customHouse = `{"default":{"items":[{"id":"item_1760","title":"Solar panels","type":"boolean","description":""}],"description":"Checklist items relevant to all house types"},"house_types":{"villa":{"items":[{"id":"pool","title":"Pool","type":"boolean"}],"description":"villa specific items"}}}`

func jsonEqual(t *testing.T, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func (e *env) admin(t *testing.T) string {
	t.Helper()
	id := e.signup(t, "admin@example.com", "secret1").User.ID
	if err := e.store.SetRole(context.Background(), "admin@example.com", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEnsureDefaultsSeedsEachScopeOnceAtVersion1(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if c, err := e.store.BaseChecklist(ctx, "house"); err != nil || c != nil {
			t.Fatalf("before seeding: %+v %v", c, err)
		}
		for range 2 {
			if err := e.store.EnsureDefaults(ctx); err != nil {
				t.Fatal(err)
			}
		}
		defaults, _ := checklist.Defaults()
		for _, sc := range checklist.Scopes() {
			c, err := e.store.BaseChecklist(ctx, string(sc))
			if err != nil || c == nil {
				t.Fatalf("%s: %+v %v", sc, c, err)
			}
			if c.Version != 1 || !c.IsBase || c.UserID != nil || c.Name != "Base "+string(sc)+" checklist" || !domain.ValidID(c.ID) {
				t.Fatalf("%s: %+v", sc, c)
			}
			if string(c.ItemsRaw) != string(defaults[sc]) {
				t.Fatalf("%s items changed on the way: %s", sc, c.ItemsRaw)
			}
		}
		var n int
		if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM checklists`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("%d rows, %v", n, err)
		}
	})
}

func TestEnsureDefaultsKeepsAnAdminsBaseChecklist(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		items := json.RawMessage(`{"items":[{"id":"fridge","title":"Fridge","type":"boolean"}]}`)
		if _, err := e.store.PutBaseChecklist(ctx, e.admin(t), "product", account.ChecklistPatch{ItemsRaw: items}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.EnsureDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		c, _ := e.store.BaseChecklist(ctx, "product")
		jsonEqual(t, c.ItemsRaw, items)
	})
}

func TestAnUnknownScopeIsInvalidInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.signup(t, "ada@example.com", "secret1").User
		if _, err := e.store.BaseChecklist(ctx, "garage"); domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("base: %v", err)
		}
		if _, err := e.store.PutCustomChecklist(ctx, u.ID, "garage", account.ChecklistPatch{}); domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("custom: %v", err)
		}
	})
}

func TestOnlyAStoredAdminMayPutBaseChecklists(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.signup(t, "ada@example.com", "secret1").User
		for _, actor := range []string{u.ID, domain.NewID(), "not-a-uuid"} {
			_, err := e.store.PutBaseChecklist(ctx, actor, "house", account.ChecklistPatch{})
			if domain.ErrorCode(err) != domain.EFORBIDDEN || domain.ErrorMessage(err) != "Only admins can update base checklists" {
				t.Fatalf("%s: got %v", actor, err)
			}
		}
		// A demoted admin loses the right at once, whatever their token still says.
		admin := e.admin(t)
		if err := e.store.SetRole(ctx, "admin@example.com", auth.RoleUser); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.PutBaseChecklist(ctx, admin, "house", account.ChecklistPatch{}); domain.ErrorCode(err) != domain.EFORBIDDEN {
			t.Fatalf("demoted admin: %v", err)
		}
	})
}

func TestPutBaseChecklistUpdatesTheBaseInPlaceOrCreatesIt(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		admin := e.admin(t)
		created, err := e.store.PutBaseChecklist(ctx, admin, "room", account.ChecklistPatch{})
		if err != nil {
			t.Fatal(err)
		}
		if created.Name != "Base room checklist" || created.Version != 1 || string(created.ItemsRaw) != "{}" || !created.IsBase {
			t.Fatalf("created: %+v", created)
		}
		items := json.RawMessage(`{"default":{"description":"All rooms","items":[{"id":"lighting","title":"Lighting","type":"boolean"}]}}`)
		updated, err := e.store.PutBaseChecklist(ctx, admin, "room", account.ChecklistPatch{Name: ptr("Rooms v2"), Version: 2, ItemsRaw: items})
		if err != nil {
			t.Fatal(err)
		}
		if updated.ID != created.ID || updated.Name != "Rooms v2" || updated.Version != 2 || !updated.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("updated: %+v", updated)
		}
		jsonEqual(t, updated.ItemsRaw, items)
		// A zero version is ignored, as the original ignored a falsy one.
		again, err := e.store.PutBaseChecklist(ctx, admin, "room", account.ChecklistPatch{Version: 0})
		if err != nil || again.Version != 2 {
			t.Fatalf("zero version: %+v %v", again, err)
		}
	})
}

func TestStoredChecklistsMustPassValidation(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.signup(t, "ada@example.com", "secret1").User
		bad := account.ChecklistPatch{ItemsRaw: json.RawMessage(`{"default":{"items":[{"id":"x","title":"X","type":"boolean","colour":"red"}]}}`)}
		_, err := e.store.PutCustomChecklist(ctx, u.ID, "house", bad)
		var de *domain.Error
		if domain.ErrorCode(err) != domain.EINVALID || !asDomain(err, &de) || len(de.Details) == 0 {
			t.Fatalf("got %v", err)
		}
		if _, err := e.store.PutBaseChecklist(ctx, e.admin(t), "house", bad); domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("base: %v", err)
		}
		if _, err := e.store.PutCustomChecklist(ctx, u.ID, "house", account.ChecklistPatch{Version: -1}); domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("negative version: %v", err)
		}
	})
}

func TestPutCustomChecklistKeepsOneRowPerUserAndScope(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.signup(t, "ada@example.com", "secret1").User
		first, err := e.store.PutCustomChecklist(ctx, u.ID, "house", account.ChecklistPatch{ItemsRaw: json.RawMessage(customHouse)})
		if err != nil {
			t.Fatal(err)
		}
		if first.Name != "Custom house checklist" || first.Version != 1 || first.IsBase || first.UserID == nil || *first.UserID != u.ID {
			t.Fatalf("created: %+v", first)
		}
		second, err := e.store.PutCustomChecklist(ctx, u.ID, "house", account.ChecklistPatch{Name: ptr("My house")})
		if err != nil {
			t.Fatal(err)
		}
		if second.ID != first.ID || second.Name != "My house" {
			t.Fatalf("updated: %+v", second)
		}
		jsonEqual(t, second.ItemsRaw, json.RawMessage(customHouse))
	})
}

func TestConcurrentPutsOfACustomChecklistLeaveOneRow(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.signup(t, "ada@example.com", "secret1").User
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.store.PutCustomChecklist(ctx, u.ID, "product", account.ChecklistPatch{}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if list, _ := e.store.CustomChecklists(ctx, u.ID); len(list) != 1 {
			t.Fatalf("%d rows", len(list))
		}
	})
}

func TestACustomChecklistOfAnUnknownUserIsRefused(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		_, err := e.store.PutCustomChecklist(context.Background(), domain.NewID(), "house", account.ChecklistPatch{})
		if domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Fatalf("got %v", err)
		}
	})
}

func TestUpdateCustomChecklistTouchesOnlyTheCallersOwnCustomRows(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ada, bob := e.seededWithAdaAndBob(t)
		mine, err := e.store.PutCustomChecklist(ctx, ada.ID, "room", account.ChecklistPatch{})
		if err != nil {
			t.Fatal(err)
		}
		base, _ := e.store.BaseChecklist(ctx, "room")
		notFound := func(who, id string) {
			t.Helper()
			_, err := e.store.UpdateCustomChecklist(ctx, who, id, account.ChecklistPatch{Name: ptr("mine now")})
			if domain.ErrorCode(err) != domain.ENOTFOUND || domain.ErrorMessage(err) != "Checklist not found" {
				t.Fatalf("%s on %s: %v", who, id, err)
			}
		}
		notFound(bob.ID, mine.ID)
		notFound(ada.ID, base.ID)
		notFound(ada.ID, domain.NewID())
		notFound(ada.ID, "not-a-uuid")

		items := json.RawMessage(`{"room_types":{"kitchen":{"items":[{"id":"sink","title":"Sink","type":"boolean"}]}}}`)
		got, err := e.store.UpdateCustomChecklist(ctx, ada.ID, mine.ID, account.ChecklistPatch{Name: ptr("Kitchen"), Version: 3, ItemsRaw: items})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != mine.ID || got.Name != "Kitchen" || got.Version != 3 {
			t.Fatalf("updated: %+v", got)
		}
		jsonEqual(t, got.ItemsRaw, items)
		// Validated against the row's own scope: house keys do not fit a room checklist.
		_, err = e.store.UpdateCustomChecklist(ctx, ada.ID, mine.ID, account.ChecklistPatch{ItemsRaw: json.RawMessage(`{"house_types":{}}`)})
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("wrong scope's keys: %v", err)
		}
	})
}

func TestCustomChecklistsAreListedByScopeNameAndVersion(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ada := e.signup(t, "ada@example.com", "secret1").User
		bob := e.signup(t, "bob@example.com", "secret1").User
		for _, sc := range []string{"product", "room", "house"} {
			if _, err := e.store.PutCustomChecklist(ctx, ada.ID, sc, account.ChecklistPatch{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.store.PutCustomChecklist(ctx, bob.ID, "house", account.ChecklistPatch{}); err != nil {
			t.Fatal(err)
		}
		list, err := e.store.CustomChecklists(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		var scopes []string
		for _, c := range list {
			if *c.UserID != ada.ID || c.ItemsRaw == nil {
				t.Fatalf("row %+v", c)
			}
			scopes = append(scopes, c.Scope)
		}
		// The original's enum order, not the alphabet's.
		if !reflect.DeepEqual(scopes, []string{"house", "room", "product"}) {
			t.Fatalf("order %v", scopes)
		}
		if list, err := e.store.CustomChecklists(ctx, domain.NewID()); err != nil || len(list) != 0 || list == nil {
			t.Fatalf("a user without rows: %#v %v", list, err)
		}
	})
}

func TestMergedFoldsTheUsersCustomsIntoTheBase(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ada, bob := e.seededWithAdaAndBob(t)
		if _, err := e.store.PutCustomChecklist(ctx, ada.ID, "house", account.ChecklistPatch{ItemsRaw: json.RawMessage(customHouse)}); err != nil {
			t.Fatal(err)
		}
		defaults, _ := checklist.Defaults()
		want := func(custom ...json.RawMessage) scan.Checklists {
			src := map[checklist.Scope]checklist.Sources{}
			for sc, raw := range defaults {
				src[sc] = checklist.Sources{Base: raw}
			}
			h := src[checklist.ScopeHouse]
			h.Customs = custom
			src[checklist.ScopeHouse] = h
			set, err := checklist.MergeAll(src)
			if err != nil {
				t.Fatal(err)
			}
			return scan.Checklists(set)
		}
		got, err := e.store.Merged(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want(json.RawMessage(customHouse))) {
			t.Fatalf("ada's merged checklists:\n%s\n%s\n%s", got.House, got.Rooms, got.Products)
		}
		// Bob has no customs, and never sees Ada's.
		got, err = e.store.Merged(ctx, bob.ID)
		if err != nil || !reflect.DeepEqual(got, want()) {
			t.Fatalf("bob's merged checklists: %s %v", got.House, err)
		}
	})
}

func TestMergedWithNoRowsAtAllIsThreeEmptyChecklists(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		got, err := e.store.Merged(context.Background(), domain.NewID())
		if err != nil || string(got.House) != "{}" || string(got.Rooms) != "{}" || string(got.Products) != "{}" {
			t.Fatalf("got %+v %v", got, err)
		}
	})
}

func TestChecklistTimesHaveMillisecondPrecision(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.clock.Advance(123456789 * time.Nanosecond)
		u := e.signup(t, "ada@example.com", "secret1").User
		c, err := e.store.PutCustomChecklist(context.Background(), u.ID, "house", account.ChecklistPatch{})
		if err != nil {
			t.Fatal(err)
		}
		want := e.clock.Now().Truncate(time.Millisecond)
		if !c.CreatedAt.Equal(want) || !u.CreatedAt.Equal(want) {
			t.Fatalf("created %v / %v, want %v", c.CreatedAt, u.CreatedAt, want)
		}
	})
}

func asDomain(err error, target **domain.Error) bool { return errors.As(err, target) }

// seededWithAdaAndBob seeds the default base checklists and signs up two users.
func (e *env) seededWithAdaAndBob(t *testing.T) (ada, bob account.User) {
	t.Helper()
	if err := e.store.EnsureDefaults(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e.signup(t, "ada@example.com", "secret1").User, e.signup(t, "bob@example.com", "secret1").User
}
