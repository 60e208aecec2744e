package builtin

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/scanledger/scanledger/domain/analysis"
)

// item is one checklist item, read as leniently as the agents-service reads it: a
// field of the wrong JSON type counts as absent.
type item struct {
	id, title, description, typ string
	options                     []string
}

// checklist is one merged checklist (section 6 of the contract). Type groups keep
// their JSON order because the metadata of an id listed under several types comes
// from the last one, as in the agents-service.
type checklist struct {
	def        []item
	hasDefault bool // "default" has an "items" key: for products it replaces "items"
	houseTypes [][]item
	roomTypes  [][]item
	items      []item
}

type checklists struct{ house, rooms, products checklist }

func parseChecklists(req analysis.Request) (checklists, error) {
	var c checklists
	var err error
	if c.house, err = parseChecklist(req.HouseChecklist); err != nil {
		return c, invalidChecklist("house", err)
	}
	if c.rooms, err = parseChecklist(req.RoomsChecklist); err != nil {
		return c, invalidChecklist("rooms", err)
	}
	if c.products, err = parseChecklist(req.ProductsChecklist); err != nil {
		return c, invalidChecklist("products", err)
	}
	return c, nil
}

func invalidChecklist(scope string, err error) error {
	return &analysis.Error{Code: "invalid_checklist", Detail: fmt.Sprintf("%s checklist: %v", scope, err)}
}

// parseChecklist accepts an absent or null checklist as empty, like "{}".
func parseChecklist(raw json.RawMessage) (checklist, error) {
	var c checklist
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return c, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return c, fmt.Errorf("not a JSON object: %w", err)
	}
	var def map[string]json.RawMessage
	if json.Unmarshal(top["default"], &def) == nil {
		if items, ok := def["items"]; ok {
			c.def, c.hasDefault = parseItems(items), true
		}
	}
	c.houseTypes = parseTypes(top["house_types"])
	c.roomTypes = parseTypes(top["room_types"])
	c.items = parseItems(top["items"])
	return c, nil
}

// parseTypes reads {"<type>": {"items": [...]}, ...} keeping the key order.
func parseTypes(raw json.RawMessage) [][]item {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var groups [][]item
	for dec.More() {
		if _, err := dec.Token(); err != nil { // the type name
			return groups
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return groups
		}
		var g map[string]json.RawMessage
		if json.Unmarshal(v, &g) == nil {
			groups = append(groups, parseItems(g["items"]))
		}
	}
	return groups
}

// parseItems keeps the items that have a string id; the agents-service skips the rest.
func parseItems(raw json.RawMessage) []item {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	items := make([]item, 0, len(list))
	for _, r := range list {
		var f map[string]json.RawMessage
		if json.Unmarshal(r, &f) != nil {
			continue
		}
		it := item{id: text(f["id"]), title: text(f["title"]), description: text(f["description"]), typ: text(f["type"])}
		if it.id == "" {
			continue
		}
		if json.Unmarshal(f["options"], &it.options) != nil || it.options == nil {
			it.options = []string{}
		}
		items = append(items, it)
	}
	return items
}

func text(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s) // a missing or non-string field reads as ""
	return s
}

// houseIDs are the items the agents-service could evaluate for a house: default plus
// every house type's items. It evaluates only the detected types' items, but photo
// statistics detect no type, so any type's item may apply and none was assessed.
func (c checklist) houseIDs() []string { return uniqueIDs(append([][]item{c.def}, c.houseTypes...)) }

// roomIDs are the same for a room: default plus every room type's items.
func (c checklist) roomIDs() []string { return uniqueIDs(append([][]item{c.def}, c.roomTypes...)) }

// productIDs are "items", replaced by "default.items" when a default exists, as the
// agents-service reads the products checklist.
func (c checklist) productIDs() []string {
	if c.hasDefault {
		return uniqueIDs([][]item{c.def})
	}
	return uniqueIDs([][]item{c.items})
}

func uniqueIDs(groups [][]item) []string {
	seen := make(map[string]bool)
	ids := []string{}
	for _, g := range groups {
		for _, it := range g {
			if !seen[it.id] {
				seen[it.id] = true
				ids = append(ids, it.id)
			}
		}
	}
	return ids
}

// metadata describes every item the checklist names, in the agents-service's order
// (default, house_types, room_types, items) with later entries winning.
func (c checklist) metadata() map[string]analysis.ItemMetadata {
	m := make(map[string]analysis.ItemMetadata)
	groups := append([][]item{c.def}, c.houseTypes...)
	groups = append(groups, c.roomTypes...)
	groups = append(groups, c.items)
	for _, g := range groups {
		for _, it := range g {
			m[it.id] = analysis.ItemMetadata{Title: it.title, Description: it.description, Type: it.typ, Options: it.options}
		}
	}
	return m
}
