package checklist_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/checklist"
)

func TestParseScopeAcceptsTheThreeScopes(t *testing.T) {
	for _, sc := range checklist.Scopes() {
		got, err := checklist.ParseScope(string(sc))
		if err != nil || got != sc {
			t.Errorf("ParseScope(%q) = %q, %v", sc, got, err)
		}
	}
}

func TestParseScopeRejectsAnythingElseAsInvalid(t *testing.T) {
	for _, s := range []string{"", "House", "rooms", "products", "garden", "house "} {
		_, err := checklist.ParseScope(s)
		assertInvalid(t, err)
	}
}

func TestValidateAcceptsTheOriginalChecklists(t *testing.T) {
	for sc, doc := range originals(t) {
		if err := checklist.Validate(string(sc), doc); err != nil {
			t.Errorf("Validate(%s, original): %v", sc, err)
		}
	}
}

func TestValidateAcceptsTheDefaults(t *testing.T) {
	for sc, doc := range defaults(t) {
		if err := checklist.Validate(string(sc), doc); err != nil {
			t.Errorf("Validate(%s, default): %v", sc, err)
		}
	}
}

func TestValidateAcceptsEmptyAndMinimalChecklists(t *testing.T) {
	for _, c := range []struct{ scope, doc string }{
		{"house", `{}`},
		{"house", `{"house_types":{"cottage":{"description":"No extra items, but an allowed type"}}}`},
		{"room", `{"default":{"items":[]}}`},
		{"product", `{"default":{"items":[{"id":"lamp","type":"conditional"}]}}`},
		{"product", `{"items":[{"id":"lamp","type":"categorical","text":"Lamp?","options":["Broken","Fine"]}]}`},
		{"house", `{"default":{"items":[{"id":"roof","type":"boolean","title":"Toit endommagé","subitems":[]}]}}`},
	} {
		if err := checklist.Validate(c.scope, json.RawMessage(c.doc)); err != nil {
			t.Errorf("Validate(%s, %s): %v", c.scope, c.doc, err)
		}
	}
}

func TestValidateRejectsBadShapesAsInvalid(t *testing.T) {
	long := strings.Repeat("x", checklist.MaxIDLength+1)
	for _, c := range []struct {
		name, scope, doc, want string
	}{
		{"not JSON", "house", `{"default":`, "not valid JSON"},
		{"empty body", "house", ``, "not valid JSON"},
		{"null", "house", `null`, "must be a JSON object"},
		{"a list", "product", `[{"id":"a","type":"boolean"}]`, "must be a JSON object"},
		{"the simulator's custom format", "house", `{"user_id":"u","house_level":{"default":[]}}`, "user_id: unknown key"},
		{"room types in a house checklist", "house", `{"room_types":{}}`, "room_types: not part of a house checklist"},
		{"house types in a room checklist", "room", `{"house_types":{}}`, "house_types: not part of a room checklist"},
		{"flat items in a house checklist", "house", `{"items":[]}`, "items: not part of a house checklist"},
		{"items and default in a product checklist", "product", `{"items":[],"default":{"items":[]}}`, "either items or default"},
		{"a group that is a list", "house", `{"default":[]}`, "default: must be an object"},
		{"types that are a list", "house", `{"house_types":["villa"]}`, "house_types: must be an object"},
		{"a type that is not an object", "room", `{"room_types":{"kitchen":null}}`, "room_types.kitchen: must be an object"},
		{"an empty type name", "room", `{"room_types":{"":{}}}`, `room_types[""]: type name must not be empty`},
		{"an unknown group key", "house", `{"default":{"items":[],"enabled":true}}`, "default.enabled: unknown key"},
		{"items that are an object", "house", `{"default":{"items":{}}}`, "default.items: must be a list"},
		{"an item that is a string", "product", `{"items":["bed"]}`, "items[0]: must be an object"},
		{"a missing id", "product", `{"items":[{"type":"boolean"}]}`, "items[0]: id is missing"},
		{"a numeric id", "product", `{"items":[{"id":1,"type":"boolean"}]}`, "items[0].id: must be a string"},
		{"an empty id", "product", `{"items":[{"id":"","type":"boolean"}]}`, "items[0].id: must not be empty"},
		{"a long id", "product", `{"items":[{"id":"` + long + `","type":"boolean"}]}`, "longer than 100"},
		{"an id with a newline", "product", `{"items":[{"id":"a\nb","type":"boolean"}]}`, "control characters"},
		{"an id with spaces around", "product", `{"items":[{"id":" a","type":"boolean"}]}`, "start or end with a space"},
		{"a repeated id", "product", `{"items":[{"id":"a","type":"boolean"},{"id":"a","type":"boolean"}]}`, `items[1].id: "a" is already the id of items[0]`},
		{"a missing type", "product", `{"items":[{"id":"a"}]}`, "items[0]: type is missing"},
		{"an unknown type", "product", `{"items":[{"id":"a","type":"rating"}]}`, "items[0].type: must be one of"},
		{"a stray item key", "house", `{"default":{"items":[{"id":"a","type":"boolean","appliesTo":"default"}]}}`, "default.items[0].appliesTo: unknown key"},
		{"a numeric title", "product", `{"items":[{"id":"a","type":"boolean","title":3}]}`, "items[0].title: must be a string"},
		{"a null description", "product", `{"items":[{"id":"a","type":"boolean","description":null}]}`, "items[0].description: must be a string"},
		{"options that are a string", "product", `{"items":[{"id":"a","type":"categorical","options":"Good"}]}`, "items[0].options: must be a list"},
		{"a numeric option", "product", `{"items":[{"id":"a","type":"categorical","options":["Good",1]}]}`, "items[0].options[1]: must be a string"},
		{"a blank option", "product", `{"items":[{"id":"a","type":"categorical","options":[" "]}]}`, "must not be blank"},
		{"a non-quality conditional option", "product", `{"items":[{"id":"a","type":"conditional","options":["Yes"]}]}`, `items[0].options[0]: "Yes" is not one of`},
		{"subitems that are an object", "product", `{"items":[{"id":"a","type":"conditional","subitems":{}}]}`, "items[0].subitems: must be a list"},
		{"a subitem without id", "product", `{"items":[{"id":"a","type":"conditional","subitems":[{"title":"x"}]}]}`, "items[0].subitems[0]: id is missing"},
		{"a boolean subitem", "product", `{"items":[{"id":"a","type":"conditional","subitems":[{"id":"s","type":"boolean"}]}]}`, "must be categorical"},
		{"a non-quality subitem option", "product", `{"items":[{"id":"a","type":"conditional","subitems":[{"id":"s","options":["Dented"]}]}]}`, `"Dented" is not one of`},
		{"nested subitems", "product", `{"items":[{"id":"a","type":"conditional","subitems":[{"id":"s","subitems":[]}]}]}`, "subitems cannot have subitems"},
		{"a stray subitem key", "product", `{"items":[{"id":"a","type":"conditional","subitems":[{"id":"s","label":"x"}]}]}`, "subitems[0].label: unknown key"},
		{"a repeated subitem id", "product", `{"items":[{"id":"a","type":"conditional","subitems":[{"id":"s"},{"id":"s"}]}]}`, "subitems[1].id"},
		{"a repeated key", "product", `{"items":[{"id":"a","type":"boolean","id":"b"}]}`, `duplicate key "id"`},
		{"deep nesting", "product", `{"items":[{"id":"a","type":"boolean","title":[[[[[[[[]]]]]]]]}]}`, "nested deeper than 8"},
		{"a numeric top-level description", "product", `{"description":1}`, "description: must be a string"},
		{"an empty top-level key", "product", `{"":{}}`, `[""]: unknown key`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checklist.Validate(c.scope, json.RawMessage(c.doc))
			de := assertInvalid(t, err)
			if !strings.Contains(de.Message, c.want) {
				t.Errorf("message %q does not mention %q", de.Message, c.want)
			}
			if !strings.HasPrefix(de.Message, "invalid "+c.scope+" checklist: ") {
				t.Errorf("message %q does not name the scope", de.Message)
			}
		})
	}
}

func TestValidateRejectsAnUnknownScope(t *testing.T) {
	assertInvalid(t, checklist.Validate("garden", json.RawMessage(`{}`)))
}

func TestValidateListsEveryProblem(t *testing.T) {
	err := checklist.Validate("house", json.RawMessage(`{"default":{"items":[{"id":1,"type":"x"},{"id":"b","type":"boolean","extra":1}]},"rooms":{}}`))
	de := assertInvalid(t, err)
	want := []string{
		"default.items[0].id: must be a string",
		"default.items[0].type: must be one of boolean, categorical, conditional",
		"default.items[1].extra: unknown key; an item has only id, type, text, title, description, options and subitems",
		"rooms: unknown key; a house checklist has only description, default and house_types",
	}
	if strings.Join(de.Details, "\n") != strings.Join(want, "\n") {
		t.Errorf("details:\n%s\nwant:\n%s", strings.Join(de.Details, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasSuffix(de.Message, "(and 3 more)") {
		t.Errorf("message %q does not count the other problems", de.Message)
	}
}

func TestValidateEnforcesTheLimits(t *testing.T) {
	items := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"id":"i%d","type":"boolean"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	half := items(checklist.MaxItems / 2)
	if err := checklist.Validate("house", json.RawMessage(`{"default":{"items":`+half+`},"house_types":{"villa":{"items":`+half+`}}}`)); err != nil {
		t.Errorf("%d items: %v", checklist.MaxItems, err)
	}
	err := checklist.Validate("house", json.RawMessage(`{"default":{"items":`+half+`},"house_types":{"villa":{"items":`+items(checklist.MaxItems/2+1)+`}}}`))
	if de := assertInvalid(t, err); !strings.Contains(de.Message, "more than 500 items") {
		t.Errorf("message %q", de.Message)
	}

	opts := `["` + strings.Repeat(`a","`, checklist.MaxOptions) + `a"]`
	err = checklist.Validate("product", json.RawMessage(`{"items":[{"id":"a","type":"categorical","options":`+opts+`}]}`))
	if de := assertInvalid(t, err); !strings.Contains(de.Message, "more than 50") {
		t.Errorf("message %q", de.Message)
	}

	desc := strings.Repeat("é", checklist.MaxDescriptionLength)
	if err := checklist.Validate("product", json.RawMessage(`{"items":[{"id":"a","type":"boolean","description":"`+desc+`"}]}`)); err != nil {
		t.Errorf("a description of %d characters: %v", checklist.MaxDescriptionLength, err)
	}
	err = checklist.Validate("product", json.RawMessage(`{"items":[{"id":"a","type":"boolean","description":"`+desc+`x"}]}`))
	assertInvalid(t, err)

	many := make([]string, 200)
	for i := range many {
		many[i] = fmt.Sprintf(`"k%d":1`, i)
	}
	de := assertInvalid(t, checklist.Validate("house", json.RawMessage(`{`+strings.Join(many, ",")+`}`)))
	if len(de.Details) != 50 || !strings.HasSuffix(de.Message, "(and 199 more)") {
		t.Errorf("200 problems: %d details, message %q", len(de.Details), de.Message)
	}
}

func TestValidateErrorsAreDomainErrors(t *testing.T) {
	err := checklist.Validate("room", json.RawMessage(`[]`))
	if domain.ErrorCode(err) != domain.EINVALID || domain.ErrorMessage(err) != "invalid room checklist: must be a JSON object" {
		t.Errorf("code %q, message %q", domain.ErrorCode(err), domain.ErrorMessage(err))
	}
}
