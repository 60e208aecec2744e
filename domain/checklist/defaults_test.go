package checklist_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/scanledger/scanledger/domain/checklist"
)

func TestDefaultsCoverEveryScope(t *testing.T) {
	d := defaults(t)
	for _, sc := range checklist.Scopes() {
		if !json.Valid(d[sc]) {
			t.Errorf("default %s checklist is not valid JSON", sc)
		}
	}
	if len(d) != 3 {
		t.Errorf("%d defaults, want 3", len(d))
	}
}

func TestDefaultHouseTypesIncludeTheOriginalOnesFirst(t *testing.T) {
	got := keys(t, defaults(t)[checklist.ScopeHouse], "house_types")
	if want := []string{"apartment", "villa", "townhouse", "studio", "penthouse"}; !reflect.DeepEqual(got[:len(want)], want) {
		t.Errorf("house types = %v, want to start with %v", got, want)
	}
}

func TestDefaultRoomTypesIncludeTheOriginalOnesAndMore(t *testing.T) {
	got := keys(t, defaults(t)[checklist.ScopeRoom], "room_types")
	for _, want := range []string{"bedroom", "living_room", "kitchen", "bathroom", "office", "hallway", "laundry"} {
		if !slices.Contains(got, want) {
			t.Errorf("room types %v lack %q", got, want)
		}
	}
}

func TestDefaultProductsAreConditionalWithQualitySubitems(t *testing.T) {
	var doc struct {
		Description string
		Items       []struct {
			ID, Title, Type string
			Subitems        []struct {
				ID, Title, Type string
				Options         []string
			}
		}
	}
	if err := json.Unmarshal(defaults(t)[checklist.ScopeProduct], &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Description == "" || len(doc.Items) < 25 {
		t.Fatalf("product default: description %q, %d items", doc.Description, len(doc.Items))
	}
	for _, it := range doc.Items {
		if it.Type != checklist.TypeConditional || it.Title == "" || len(it.Subitems) == 0 || len(it.Subitems) > 3 {
			t.Errorf("product %q: type %q, title %q, %d subitems", it.ID, it.Type, it.Title, len(it.Subitems))
		}
		for _, s := range it.Subitems {
			if s.Type != checklist.TypeCategorical || s.Title == "" || !slices.Equal(s.Options, checklist.QualityOptions()) {
				t.Errorf("product %q subitem %q: type %q, title %q, options %v", it.ID, s.ID, s.Type, s.Title, s.Options)
			}
		}
	}
}

func TestDefaultItemsAllHaveTitlesAndDescriptions(t *testing.T) {
	type item struct{ ID, Title, Description string }
	type group struct{ Items []item }
	for _, sc := range []checklist.Scope{checklist.ScopeHouse, checklist.ScopeRoom} {
		var doc struct {
			Default   group
			HouseType map[string]group `json:"house_types"`
			RoomTypes map[string]group `json:"room_types"`
		}
		if err := json.Unmarshal(defaults(t)[sc], &doc); err != nil {
			t.Fatal(err)
		}
		groups := []group{doc.Default}
		for _, g := range doc.HouseType {
			groups = append(groups, g)
		}
		for _, g := range doc.RoomTypes {
			groups = append(groups, g)
		}
		for _, g := range groups {
			if len(g.Items) == 0 {
				t.Errorf("%s: a group without items", sc)
			}
			for _, it := range g.Items {
				if it.Title == "" || it.Description == "" {
					t.Errorf("%s item %q lacks a title or description", sc, it.ID)
				}
			}
		}
	}
}
