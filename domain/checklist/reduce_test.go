package checklist_test

import (
	"encoding/json"
	"testing"

	"github.com/scanledger/scanledger/domain/checklist"
)

func assertReduce(tb testing.TB, want, doc string) {
	tb.Helper()
	if got, w := reduce(tb, doc), compact(tb, want); got != w {
		tb.Errorf("reduced\n got %s\nwant %s", got, w)
	}
}

func TestReduceKeepsOnlyTheKeysTheAgentsAcceptInEveryItemList(t *testing.T) {
	stray := `{"appliesTo":"x","id":"a","enabled":false,"type":"categorical","text":"T","title":"A","description":"D","options":["Low","High"],"subitems":[],"condition_options":["Good"]}`
	clean := `{"id":"a","type":"categorical","text":"T","title":"A","description":"D","options":["Low","High"],"subitems":[]}`
	assertReduce(t,
		`{"default":{"description":"All","items":[`+clean+`]},
		  "house_types":{"villa":{"description":"V","items":[`+clean+`]}},
		  "room_types":{"kitchen":{"items":[`+clean+`]}},
		  "items":[`+clean+`]}`,
		`{"default":{"description":"All","items":[`+stray+`]},
		  "house_types":{"villa":{"description":"V","items":[`+stray+`]}},
		  "room_types":{"kitchen":{"items":[`+stray+`]}},
		  "items":[`+stray+`]}`)
}

func TestReduceDropsItemsWithoutAStringIdOrAStringType(t *testing.T) {
	// The house and room agents skip items without an id themselves; the product agent
	// would fail on them. Without a string type every agent fails.
	assertReduce(t, `{"items":[{"id":"ok","type":"boolean"},{"id":"odd","type":"rating"}]}`,
		`{"items":[{"id":"ok","type":"boolean"},{"title":"no id","type":"boolean"},{"id":"","type":"boolean"},
		  {"id":7,"type":"boolean"},{"id":"no_type"},{"id":"bad_type","type":1},"text",null,[{"id":"x"}],
		  {"id":"odd","type":"rating"}]}`)
}

func TestReduceDropsValuesTheAgentsWouldRefuse(t *testing.T) {
	assertReduce(t,
		`{"items":[{"id":"a","type":"categorical","description":null,"options":["Good","Bad"]},
		           {"id":"b","type":"categorical","options":null,"subitems":null}]}`,
		`{"items":[{"id":"a","type":"categorical","title":5,"text":{"en":"x"},"description":null,"options":["Good",3,null,"Bad"],"subitems":"none"},
		           {"id":"b","type":"categorical","options":null,"subitems":null}]}`)
	assertReduce(t, `{"items":[{"id":"a","type":"boolean"}]}`,
		`{"items":[{"id":"a","type":"boolean","options":"Good","title":["A"]}]}`)
}

func TestReduceLimitsConditionalOptionsToQualityValues(t *testing.T) {
	assertReduce(t,
		`{"items":[{"id":"c","type":"conditional","options":["Good","N/A"]},
		           {"id":"k","type":"categorical","options":["Cracked","Good"]}]}`,
		`{"items":[{"id":"c","type":"conditional","options":["Cracked","Good","good","N/A"]},
		           {"id":"k","type":"categorical","options":["Cracked","Good"]}]}`)
}

func TestReduceReducesSubitemsTheSameWay(t *testing.T) {
	assertReduce(t,
		`{"items":[{"id":"sofa","type":"conditional","subitems":[
		    {"id":"frame","title":"Frame","type":"categorical","options":["Poor","Good"]},
		    {"id":"legs"}]}]}`,
		`{"items":[{"id":"sofa","type":"conditional","subitems":[
		    {"id":"frame","label":"Override","title":"Frame","type":"categorical","options":["Poor","Dented","Good"],"subitems":[{"id":"deep"}]},
		    {"title":"no id"},{"id":""},{"id":5},"text",
		    {"id":"legs","type":3,"title":false}]}]}`)
}

func TestReduceDropsStructureTheAgentsCannotRead(t *testing.T) {
	assertReduce(t, `{"description":"kept"}`,
		`{"description":"kept","default":"items","house_types":["villa"],"room_types":"kitchen","items":{"id":"a"}}`)
	assertReduce(t, `{"default":{"description":"All"},"house_types":{"villa":{"description":"V"}}}`,
		`{"default":{"description":"All","items":{"id":"a"}},"house_types":{"villa":{"description":"V","items":"a"},"loft":null,"cabin":"x"}}`)
}

func TestReduceKeepsDescriptionsAndEveryOtherNonItemKey(t *testing.T) {
	doc := `{"description":"Top","version":2,"default":{"description":"All","note":"n","items":[]},"house_types":{"villa":{"description":"V","items":[]}}}`
	assertReduce(t, doc, doc)
}

func TestReduceOfSomethingThatIsNotAnObjectIsEmpty(t *testing.T) {
	for _, doc := range []string{`null`, `[]`, `"x"`, `1`} {
		assertReduce(t, `{}`, doc)
	}
	if _, err := checklist.Reduce(json.RawMessage(`{"items":[`)); err == nil {
		t.Error("Reduce accepted invalid JSON")
	}
}

func TestReduceLeavesTheOriginalsAndDefaultsUnchanged(t *testing.T) {
	for name, docs := range map[string]map[checklist.Scope]json.RawMessage{"originals": originals(t), "defaults": defaults(t)} {
		for sc, doc := range docs {
			if got, want := reduce(t, string(doc)), compact(t, string(doc)); got != want {
				t.Errorf("%s %s changed:\n got %s\nwant %s", name, sc, got, want)
			}
		}
	}
}
