package checklist_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain/checklist"
	"github.com/scanledger/scanledger/domain/scan"
)

func TestMergeReproducesTheWorkedExampleOfTheContract(t *testing.T) {
	base := `{"default":{"description":"All","items":[{"id":"water_damage","title":"Water Damage","type":"boolean","description":"leaks"}]},
	 "house_types":{"apartment":{"description":"Apt","items":[
	   {"id":"balcony","title":"Balcony","type":"conditional",
	    "subitems":[{"id":"railing","title":"Railing","type":"categorical","options":["Poor","Good"]}]}]}}}`
	custom := `{"default":{"description":"mine","items":[
	   {"id":"water_damage","title":"Leaks (custom)","type":"boolean"},
	   {"id":"item_1760","title":"Solar panels","type":"boolean","description":""}]},
	 "house_types":{"apartment":{"description":"x","items":[
	     {"id":"balcony","subitems":[{"id":"floor","title":"Floor","type":"categorical","options":["Poor","Good"]}]}]},
	   "villa":{"description":"villa specific items","items":[{"id":"pool","title":"Pool","type":"boolean"}]}}}`
	// water_damage gets no subitems key: neither side had one.
	want := `{"default":{"description":"All","items":[
	   {"id":"water_damage","title":"Leaks (custom)","type":"boolean","description":"leaks"},
	   {"id":"item_1760","title":"Solar panels","type":"boolean","description":""}]},
	 "house_types":{
	   "apartment":{"description":"Apt","items":[{"id":"balcony","title":"Balcony","type":"conditional",
	       "subitems":[{"id":"railing","title":"Railing","type":"categorical","options":["Poor","Good"]},
	                   {"id":"floor","title":"Floor","type":"categorical","options":["Poor","Good"]}]}]},
	   "villa":{"description":"villa specific items","items":[{"id":"pool","title":"Pool","type":"boolean"}]}}}`
	assertMerge(t, want, base, custom)
}

func TestMergeWithNoRowsIsAnEmptyObject(t *testing.T) {
	assertMerge(t, `{}`, "")
	assertMerge(t, `{}`, "null")
	assertMerge(t, `{}`, "", "null", "{}")
}

func TestMergeOfABaseAloneKeepsItAsWritten(t *testing.T) {
	base := `{"house_types":{"zeta":{"items":[]},"alpha":{"description":"A"}},
	  "default":{"items":[{"type":"boolean","id":"b","title":"B","extra":[1.50,true,null]}],"description":"D"},
	  "version":3}`
	assertMerge(t, base, base)
}

func TestMergeTreatsABaseThatIsNotAnObjectAsEmpty(t *testing.T) {
	for _, base := range []string{`[1,2]`, `"text"`, `5`, `true`} {
		assertMerge(t, `{"items":[{"id":"a"}]}`, base, `{"items":[{"id":"a"}]}`)
	}
}

func TestMergeIgnoresCustomsThatAreNotObjects(t *testing.T) {
	base := `{"items":[{"id":"a"}]}`
	assertMerge(t, base, base, `[{"id":"b"}]`, `"items"`, `0`, `null`)
}

func TestMergeFailsOnlyOnInvalidJSON(t *testing.T) {
	if _, err := checklist.Merge(json.RawMessage(`{"default":`)); err == nil || !strings.Contains(err.Error(), "base") {
		t.Errorf("invalid base: err = %v, want an error naming the base", err)
	}
	_, err := checklist.Merge(json.RawMessage(`{}`), json.RawMessage(`{}`), json.RawMessage(`{} {}`))
	if err == nil || !strings.Contains(err.Error(), "custom 1") {
		t.Errorf("invalid custom: err = %v, want an error naming custom 1", err)
	}
}

func TestMergeIgnoresACustomDefaultWithoutItems(t *testing.T) {
	base := `{"default":{"description":"All","items":[{"id":"a"}]}}`
	for _, custom := range []string{
		`{"default":{"description":"mine"}}`,
		`{"default":{"description":"mine","items":null}}`,
		`{"default":{"description":"mine","items":{"id":"b"}}}`,
		`{"default":[{"id":"b"}]}`,
	} {
		assertMerge(t, base, base, custom)
		assertMerge(t, `{}`, `{}`, custom)
	}
}

func TestMergeCreatesAMissingDefaultWithTheCustomDescription(t *testing.T) {
	assertMerge(t, `{"items":[],"default":{"description":"mine","items":[{"id":"a"}]}}`,
		`{"items":[]}`, `{"default":{"items":[{"id":"a"}],"description":"mine"}}`)
	// The original wrote custom.default.description || "".
	assertMerge(t, `{"default":{"description":"","items":[{"id":"a"}]}}`,
		`{}`, `{"default":{"items":[{"id":"a"}]}}`)
	assertMerge(t, `{"default":{"description":"","items":[]}}`,
		`{"default":null}`, `{"default":{"description":0,"items":[]}}`)
}

func TestMergeKeepsTheDescriptionOfAnExistingDefault(t *testing.T) {
	assertMerge(t, `{"default":{"description":"All","items":[{"id":"a"},{"id":"b"}]}}`,
		`{"default":{"description":"All","items":[{"id":"a"}]}}`,
		`{"default":{"description":"mine","items":[{"id":"b"}]}}`)
}

func TestMergeTreatsAnExistingDefaultWithoutItemsAsEmpty(t *testing.T) {
	// The original crashed here (spread of undefined).
	assertMerge(t, `{"default":{"description":"All","items":[{"id":"a"}]}}`,
		`{"default":{"description":"All"}}`, `{"default":{"items":[{"id":"a"}]}}`)
	assertMerge(t, `{"default":{"items":[{"id":"a"}],"description":"All"}}`,
		`{"default":{"items":"broken","description":"All"}}`, `{"default":{"items":[{"id":"a"}]}}`)
}

func TestMergeCopiesATypeMissingFromTheBaseWholesale(t *testing.T) {
	assertMerge(t,
		`{"house_types":{"apartment":{"description":"Apt","items":[]},
		  "villa":{"items":[{"id":"pool","stray":1}],"description":"mine","note":"kept"}}}`,
		`{"house_types":{"apartment":{"description":"Apt","items":[]}}}`,
		`{"house_types":{"villa":{"items":[{"id":"pool","stray":1}],"description":"mine","note":"kept"}}}`)
	// Without house_types in the base, the custom's become the result's.
	assertMerge(t, `{"default":{"items":[]},"house_types":{"villa":{"description":"V"}}}`,
		`{"default":{"items":[]}}`, `{"house_types":{"villa":{"description":"V"}}}`)
}

func TestMergeMergesItemsOfAnExistingTypeAndKeepsItsDescription(t *testing.T) {
	assertMerge(t,
		`{"house_types":{"villa":{"description":"Base villa","items":[{"id":"garden","title":"Garden (mine)"},{"id":"pool"}]}}}`,
		`{"house_types":{"villa":{"description":"Base villa","items":[{"id":"garden","title":"Garden"}]}}}`,
		`{"house_types":{"villa":{"description":"mine","items":[{"id":"garden","title":"Garden (mine)"},{"id":"pool"}]}}}`)
	// An existing type without items takes the custom items (the original crashed).
	assertMerge(t, `{"house_types":{"villa":{"description":"V","items":[{"id":"pool"}]}}}`,
		`{"house_types":{"villa":{"description":"V"}}}`,
		`{"house_types":{"villa":{"items":[{"id":"pool"}]}}}`)
	// A custom type without items leaves the existing one alone (the original crashed).
	assertMerge(t, `{"house_types":{"villa":{"description":"V","items":[{"id":"a"}]}}}`,
		`{"house_types":{"villa":{"description":"V","items":[{"id":"a"}]}}}`,
		`{"house_types":{"villa":{"description":"mine"}}}`)
}

func TestMergeAppendsNewTypesAfterExistingOnesInCustomOrder(t *testing.T) {
	got := merge(t, `{"house_types":{"villa":{},"apartment":{},"studio":{}}}`,
		`{"house_types":{"loft":{},"apartment":{"items":[]},"cabin":{}}}`)
	want := []string{"villa", "apartment", "studio", "loft", "cabin"}
	if k := keys(t, []byte(got), "house_types"); !reflect.DeepEqual(k, want) {
		t.Errorf("house types = %v, want %v", k, want)
	}
}

func TestMergeAppliesTheTypeRulesToRoomTypes(t *testing.T) {
	assertMerge(t,
		`{"room_types":{"kitchen":{"description":"K","items":[{"id":"sink","title":"Sink!"},{"id":"oven"}]},
		  "garage":{"description":"mine","items":[{"id":"door"}]}}}`,
		`{"room_types":{"kitchen":{"description":"K","items":[{"id":"sink","title":"Sink"}]}}}`,
		`{"room_types":{"kitchen":{"description":"mine","items":[{"id":"sink","title":"Sink!"},{"id":"oven"}]},
		  "garage":{"description":"mine","items":[{"id":"door"}]}}}`)
}

func TestMergeMergesFlatItemsButNeverTheTopLevelDescription(t *testing.T) {
	assertMerge(t, `{"description":"Base","items":[{"id":"bed","title":"Bed+"},{"id":"lamp"}]}`,
		`{"description":"Base","items":[{"id":"bed","title":"Bed"}]}`,
		`{"items":[{"id":"bed","title":"Bed+"},{"id":"lamp"}],"description":"Custom product checklist"}`)
	assertMerge(t, `{"description":"Base","items":[{"id":"lamp"}]}`,
		`{"description":"Base"}`, `{"description":"mine","items":[{"id":"lamp"}]}`)
}

func TestMergeIgnoresEveryOtherCustomKey(t *testing.T) {
	base := `{"description":"Base","default":{"description":"All","items":[]}}`
	assertMerge(t, base, base,
		`{"user_id":"u1","description":"mine","house_level":{"default":[{"id":"x"}]},"version":9,"items_raw":[]}`)
}

func TestMergeReplacesAnItemWithTheSameIdInPlace(t *testing.T) {
	// Custom values win, an empty description included; keys only the base item has
	// stay, in their place; keys only the custom item has follow them.
	assertMerge(t,
		`{"items":[{"id":"a"},
		  {"id":"b","title":"Custom","type":"categorical","description":"","options":["Poor","Good"],"note":"n"},
		  {"id":"c"}]}`,
		`{"items":[{"id":"a"},{"id":"b","title":"Base","type":"boolean","description":"base text","options":["Yes"]},{"id":"c"}]}`,
		`{"items":[{"type":"categorical","id":"b","note":"n","title":"Custom","description":"","options":["Poor","Good"]}]}`)
}

func TestMergeAppendsItemsWithNewIdsInCustomOrder(t *testing.T) {
	got := merge(t, `{"items":[{"id":"a"},{"id":"b"}]}`, `{"items":[{"id":"z"},{"id":"b"},{"id":"c"}]}`)
	if got, want := ids(t, []byte(got), "items"), []string{"a", "b", "z", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ids = %v, want %v", got, want)
	}
}

func TestMergeMergesSubitemsRecursivelyById(t *testing.T) {
	assertMerge(t,
		`{"items":[{"id":"sofa","subitems":[{"id":"frame","title":"Frame","options":["Poor","Good"]},{"id":"legs"},{"id":"fabric"}]}]}`,
		`{"items":[{"id":"sofa","subitems":[{"id":"frame","title":"Frame","options":["Poor"]},{"id":"legs"}]}]}`,
		`{"items":[{"id":"sofa","subitems":[{"id":"frame","options":["Poor","Good"]},{"id":"fabric"}]}]}`)
}

func TestMergeKeepsBaseSubitemsWhenTheCustomItemHasNone(t *testing.T) {
	base := `{"items":[{"id":"sofa","subitems":[{"id":"frame"}],"title":"Sofa"}]}`
	want := `{"items":[{"id":"sofa","subitems":[{"id":"frame"}],"title":"Couch"}]}`
	assertMerge(t, want, base, `{"items":[{"id":"sofa","title":"Couch"}]}`)
	assertMerge(t, want, base, `{"items":[{"id":"sofa","title":"Couch","subitems":null}]}`)
	assertMerge(t, want, base, `{"items":[{"id":"sofa","title":"Couch","subitems":"broken"}]}`)
}

func TestMergeAddsNoSubitemsKeyWhenNeitherItemHasSubitems(t *testing.T) {
	assertMerge(t, `{"items":[{"id":"a","title":"A2"}]}`, `{"items":[{"id":"a","title":"A"}]}`,
		`{"items":[{"id":"a","subitems":null,"title":"A2"}]}`)
	// A base with an empty or null subitems keeps what it had.
	assertMerge(t, `{"items":[{"id":"a","subitems":null,"title":"A2"}]}`,
		`{"items":[{"id":"a","subitems":null}]}`, `{"items":[{"id":"a","title":"A2"}]}`)
	// A custom item with subitems gives them to an item that had none.
	assertMerge(t, `{"items":[{"id":"a","title":"A","subitems":[{"id":"s"}]}]}`,
		`{"items":[{"id":"a","title":"A"}]}`, `{"items":[{"id":"a","subitems":[{"id":"s"}]}]}`)
}

func TestMergeMatchesIdsAgainstItemsAddedByTheSameCustom(t *testing.T) {
	assertMerge(t, `{"items":[{"id":"x","title":"second","type":"boolean"}]}`,
		`{}`, `{"items":[{"id":"x","title":"first","type":"boolean"},{"id":"x","title":"second"}]}`)
}

func TestMergeMatchesOnlyStringIds(t *testing.T) {
	// Items without a string id never match anything and are appended; Validate
	// refuses them and Reduce drops them before the agents see them.
	assertMerge(t, `{"items":[{"id":1},{"title":"no id"},"text",{"id":1},{"title":"no id"},"text"]}`,
		`{"items":[{"id":1},{"title":"no id"},"text"]}`,
		`{"items":[{"id":1},{"title":"no id"},"text"]}`)
}

func TestMergeAppliesCustomsInTheOrderGivenSoTheLastOneWins(t *testing.T) {
	// The caller passes customs by version descending, as the original queried them:
	// the oldest custom is merged last and wins.
	base := `{"items":[{"id":"bed","title":"Bed"}]}`
	v3 := `{"items":[{"id":"bed","title":"Bed v3"},{"id":"lamp","title":"Lamp v3"}]}`
	v2 := `{"items":[{"id":"rug","title":"Rug v2"}]}`
	v1 := `{"items":[{"id":"bed","title":"Bed v1"},{"id":"lamp","description":"from v1"}]}`
	assertMerge(t,
		`{"items":[{"id":"bed","title":"Bed v1"},{"id":"lamp","title":"Lamp v3","description":"from v1"},{"id":"rug","title":"Rug v2"}]}`,
		base, v3, v2, v1)
	assertMerge(t,
		`{"items":[{"id":"bed","title":"Bed v3"},{"id":"lamp","description":"from v1","title":"Lamp v3"},{"id":"rug","title":"Rug v2"}]}`,
		base, v1, v2, v3)
}

func TestMergeDoesNotModifyItsInputs(t *testing.T) {
	base := []byte(`{"default":{"items":[{"id":"a","subitems":[{"id":"s"}]}]},"house_types":{"v":{"items":[]}}}`)
	custom := []byte(`{"default":{"items":[{"id":"a","subitems":[{"id":"t"}]}]},"house_types":{"v":{"items":[{"id":"b"}]},"w":{}}}`)
	baseCopy, customCopy := bytes.Clone(base), bytes.Clone(custom)
	if _, err := checklist.Merge(base, custom, custom); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(base, baseCopy) || !bytes.Equal(custom, customCopy) {
		t.Error("Merge modified its inputs")
	}
}

func TestMergePreservesKeyOrderAndValuesAsWritten(t *testing.T) {
	base := `{"house_types":{"zeta":{"items":[{"type":"boolean","title":"Z","id":"z"}]},"alpha":{},"10":{},"2":{}},
	  "default":{"items":[{"id":"d","title":"Tables & chairs <b> \u00e9 \"q\" \\ /","n":1.50,"big":12345678901234567890}],"description":"All"},
	  "description":"Top"}`
	custom := `{"house_types":{"beta":{},"zeta":{"items":[{"id":"z","extra":true}]}}}`
	got := merge(t, base, custom)
	if k, want := keys(t, []byte(got)), []string{"house_types", "default", "description"}; !reflect.DeepEqual(k, want) {
		t.Errorf("top-level keys = %v, want %v", k, want)
	}
	// JavaScript would have moved "10" and "2" first; the written order is the better
	// promise to keep.
	if k, want := keys(t, []byte(got), "house_types"), []string{"zeta", "alpha", "10", "2", "beta"}; !reflect.DeepEqual(k, want) {
		t.Errorf("house types = %v, want %v", k, want)
	}
	if !strings.Contains(got, `{"type":"boolean","title":"Z","id":"z","extra":true}`) {
		t.Errorf("item keys reordered: %s", got)
	}
	for _, literal := range []string{`"Tables & chairs <b> é \"q\" \\ /"`, `1.50`, `12345678901234567890`} {
		if !strings.Contains(got, literal) {
			t.Errorf("merged output lost %s: %s", literal, got)
		}
	}
}

// The editor customs below are what client-pwa's settings page writes (contract 6.3):
// groups carry the base description or a generated one, new ids are item_<ms> and
// subitem_<ms>, and overriding a base item means reusing its id.
const (
	editorHouseCustom = `{
	  "default": {"items": [
	      {"id": "water_damage", "title": "Water damage incl. ceilings", "type": "boolean", "description": ""},
	      {"id": "item_1760000000001", "title": "Solar panels", "type": "boolean", "description": ""}],
	    "description": "Checklist items relevant to all house types"},
	  "house_types": {
	    "villa": {"items": [
	        {"id": "item_1760000000002", "title": "Outdoor kitchen", "type": "conditional", "description": "",
	         "subitems": [{"id": "subitem_1760000000003", "title": "Grill", "type": "categorical",
	                       "options": ["Poor", "Average", "Good", "Excellent"]}]}],
	      "description": "Standalone house with garden or yard"},
	    "studio": {"items": [
	        {"id": "balcony", "title": "Balcony", "type": "conditional", "description": "Studio balcony",
	         "subitems": [{"id": "subitem_1760000000004", "title": "Railing", "type": "categorical",
	                       "options": ["Poor", "Average", "Good", "Excellent"]}]}],
	      "description": "studio specific items"}}}`
	editorRoomCustom = `{
	  "default": {"items": [{"id": "item_1760000000010", "title": "Smoke detector", "type": "boolean", "description": ""}],
	    "description": "Checklist items relevant to all room types"},
	  "room_types": {"bathroom": {"items": [
	      {"id": "item_1760000000011", "title": "Mirror", "type": "categorical", "description": "",
	       "options": ["Cracked", "Stained", "Good", "Excellent"]}],
	    "description": "Room for personal hygiene"}}}`
	editorProductCustom = `{
	  "items": [
	    {"id": "fridge", "title": "Fridge", "type": "conditional", "description": "",
	     "subitems": [{"id": "subitem_1760000000020", "title": "Door seal", "type": "categorical",
	                   "options": ["Poor", "Average", "Good", "Excellent"]}]},
	    {"id": "item_1760000000021", "title": "Espresso machine", "type": "conditional", "description": ""}],
	  "description": "Comprehensive list of furniture and appliances"}`
)

func TestMergeOfTheOriginalBaseFilesWithEditorCustoms(t *testing.T) {
	orig := originals(t)

	house, err := checklist.Merge(orig[checklist.ScopeHouse], json.RawMessage(editorHouseCustom))
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"apartment", "villa", "townhouse", "studio", "penthouse"}
	if got := keys(t, house, "house_types"); !reflect.DeepEqual(got, wantTypes) {
		t.Errorf("house types = %v, want %v", got, wantTypes)
	}
	wantDefault := []string{"water_damage", "overall_cleanliness", "structural_issues", "electrical_system",
		"plumbing_system", "pest_issues", "item_1760000000001"}
	if got := ids(t, house, "default", "items"); !reflect.DeepEqual(got, wantDefault) {
		t.Errorf("default items = %v, want %v", got, wantDefault)
	}
	wd := item(t, house, "water_damage", "default", "items")
	if wd["title"] != "Water damage incl. ceilings" || wd["description"] != "" {
		t.Errorf("water_damage = %v, want the custom title and empty description", wd)
	}
	if got, want := ids(t, house, "house_types", "villa", "items"),
		[]string{"garden", "swimming_pool", "garage", "item_1760000000002"}; !reflect.DeepEqual(got, want) {
		t.Errorf("villa items = %v, want %v", got, want)
	}
	balcony := item(t, house, "balcony", "house_types", "studio", "items")
	subs := balcony["subitems"].([]any)
	if len(subs) != 2 || subs[0].(map[string]any)["id"] != "balcony_condition" ||
		subs[1].(map[string]any)["id"] != "subitem_1760000000004" || balcony["description"] != "Studio balcony" {
		t.Errorf("studio balcony = %v, want base subitem then custom subitem and custom description", balcony)
	}

	rooms, err := checklist.Merge(orig[checklist.ScopeRoom], json.RawMessage(editorRoomCustom))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(t, rooms, "room_types", "bathroom", "items"),
		[]string{"toilet", "shower", "bathtub", "tiles", "item_1760000000011"}; !reflect.DeepEqual(got, want) {
		t.Errorf("bathroom items = %v, want %v", got, want)
	}
	if got := ids(t, rooms, "default", "items"); got[len(got)-1] != "item_1760000000010" {
		t.Errorf("room default items = %v, want the custom item last", got)
	}

	products, err := checklist.Merge(orig[checklist.ScopeProduct], json.RawMessage(editorProductCustom))
	if err != nil {
		t.Fatal(err)
	}
	var top struct{ Description string }
	if err := json.Unmarshal(products, &top); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(top.Description, "Comprehensive list of furniture and appliances for all room types") {
		t.Errorf("product description = %q, want the base one", top.Description)
	}
	pids := ids(t, products, "items")
	if len(pids) != 26 || pids[25] != "item_1760000000021" {
		t.Errorf("product ids = %v, want the 25 base products and the new one", pids)
	}
	fridge := item(t, products, "fridge", "items")
	if subs := fridge["subitems"].([]any); len(subs) < 2 || subs[len(subs)-1].(map[string]any)["id"] != "subitem_1760000000020" {
		t.Errorf("fridge subitems = %v, want the custom subitem appended", fridge["subitems"])
	}

	// What the editor writes is valid, and what the merge makes of it needs no reduction.
	for sc, custom := range map[checklist.Scope]string{
		checklist.ScopeHouse: editorHouseCustom, checklist.ScopeRoom: editorRoomCustom, checklist.ScopeProduct: editorProductCustom,
	} {
		if err := checklist.Validate(string(sc), json.RawMessage(custom)); err != nil {
			t.Errorf("Validate(%s, editor custom): %v", sc, err)
		}
	}
	for name, merged := range map[string]json.RawMessage{"house": house, "rooms": rooms, "products": products} {
		if got := reduce(t, string(merged)); got != string(merged) {
			t.Errorf("Reduce changed the merged %s checklist:\n got %s\nwant %s", name, got, merged)
		}
	}
}

func TestMergeAllMergesAndReducesEachScope(t *testing.T) {
	set, err := checklist.MergeAll(map[checklist.Scope]checklist.Sources{
		checklist.ScopeHouse: {
			Base:    json.RawMessage(`{"default":{"description":"All","items":[{"id":"a","type":"boolean","appliesTo":"default"}]}}`),
			Customs: raws(`{"default":{"items":[{"id":"b","type":"boolean","label":"x"}]}}`),
		},
		checklist.ScopeProduct: {Customs: raws(`{"items":[{"id":"lamp","type":"conditional"},{"title":"no id","type":"boolean"}]}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"default":{"description":"All","items":[{"id":"a","type":"boolean"},{"id":"b","type":"boolean"}]}}`; string(set.House) != want {
		t.Errorf("house = %s, want %s", set.House, want)
	}
	if string(set.Rooms) != `{}` {
		t.Errorf("rooms = %s, want {} for a scope without rows", set.Rooms)
	}
	if want := `{"items":[{"id":"lamp","type":"conditional"}]}`; string(set.Products) != want {
		t.Errorf("products = %s, want %s", set.Products, want)
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, body), []string{"house_checklist", "rooms_checklist", "products_checklist"}; !reflect.DeepEqual(got, want) {
		t.Errorf("request keys = %v, want %v", got, want)
	}
}

func TestMergeAllRefusesAnUnknownScope(t *testing.T) {
	_, err := checklist.MergeAll(map[checklist.Scope]checklist.Sources{"garden": {}})
	assertInvalid(t, err)
}

func TestMergeAllOfTheOriginalsAndDefaultsChangesNothing(t *testing.T) {
	for name, bases := range map[string]map[checklist.Scope]json.RawMessage{"originals": originals(t), "defaults": defaults(t)} {
		sources := map[checklist.Scope]checklist.Sources{}
		for sc, b := range bases {
			sources[sc] = checklist.Sources{Base: b}
		}
		set, err := checklist.MergeAll(sources)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for sc, got := range map[checklist.Scope]json.RawMessage{
			checklist.ScopeHouse: set.House, checklist.ScopeRoom: set.Rooms, checklist.ScopeProduct: set.Products,
		} {
			if want := compact(t, string(bases[sc])); string(got) != want {
				t.Errorf("%s %s: merged and reduced\n got %s\nwant %s", name, sc, got, want)
			}
		}
	}
}

func TestASetIsWhatProcessingStartedRecords(t *testing.T) {
	set := checklist.Set{House: json.RawMessage(`{}`), Rooms: json.RawMessage(`{}`), Products: json.RawMessage(`{}`)}
	a, errA := json.Marshal(set)
	b, errB := json.Marshal(scan.Checklists(set))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("Set %s (%v) and scan.Checklists %s (%v) differ", a, errA, b, errB)
	}
}
