package checklist

import (
	"encoding/json"
	"fmt"
)

// Merge folds a user's custom checklists into the base checklist of one scope with the
// original backend's semantics (contracts/housescanner.md section 6.4), because the PWA
// and the agents were built against exactly that result:
//
//   - base is the itemsRaw of the highest-version base row; nil, empty or JSON null
//     (no base row) is {}. A base that is not a JSON object is also {}.
//   - customs are the user's custom rows for the scope, in the order the caller passes
//     them, which must be version descending. Each is folded into the result of the
//     previous one, so a lower version, merged later, wins. A custom that is nil, null
//     or not an object changes nothing.
//   - default: only when custom.default.items is a list. A missing default is created
//     as {description: custom.default.description || "", items: []}; an existing one
//     keeps its description. Then items = mergeItems(default.items, custom items).
//   - house_types and room_types (either, in any scope): a custom type missing from the
//     result is copied wholesale, description included; an existing one keeps its
//     description and gets items = mergeItems(its items, custom items).
//   - items (the flat product list): items = mergeItems(items, custom.items).
//   - Nothing else is taken from a custom: not the top-level description, not the group
//     descriptions of existing groups, not any other key.
//   - mergeItems starts from the existing list. A custom item whose id is already in it
//     replaces that item in place by {...existing, ...custom}, with subitems merged the
//     same way by id when the custom item has a subitems list, and the existing
//     subitems (or no subitems key at all) otherwise. Any other custom item is appended.
//
// Object key order and list order are preserved: the order of house_types' keys is the
// order of the house types the agents choose from.
//
// Where the original crashed or produced garbage, Merge instead treats the odd value as
// absent, so that one bad stored row cannot stop a scan: a default, house_types,
// room_types, type group or item list of the result so far that is not an object or
// list counts as missing (an existing default without items is merged as if it had an
// empty list); the same parts of a custom, and its subitems, are ignored when they are
// not an object or list; only string ids match, so items without one are appended.
// Merge fails only when an input is not valid JSON.
func Merge(base json.RawMessage, customs ...json.RawMessage) (json.RawMessage, error) {
	acc, _, err := decodeObject(base)
	if err != nil {
		return nil, fmt.Errorf("merge checklist: base: %w", err)
	}
	for i, raw := range customs {
		custom, ok, err := decodeObject(raw)
		if err != nil {
			return nil, fmt.Errorf("merge checklist: custom %d: %w", i, err)
		}
		if ok {
			acc = mergeChecklist(acc, custom)
		}
	}
	out, err := encode(acc)
	if err != nil {
		return nil, fmt.Errorf("merge checklist: %w", err)
	}
	return out, nil
}

// Sources are the stored itemsRaw one scope merges: the base row's (nil when there is
// none) and the user's custom rows', ordered by version descending.
type Sources struct {
	Base    json.RawMessage
	Customs []json.RawMessage
}

// Set is the three merged checklists of one analysis, under the agents-service's request
// keys. Its fields match scan.Checklists so the one converts to the other.
type Set struct {
	House    json.RawMessage `json:"house_checklist"`
	Rooms    json.RawMessage `json:"rooms_checklist"`
	Products json.RawMessage `json:"products_checklist"`
}

// MergeAll merges and then reduces (see Reduce) the house, room and product checklists,
// producing exactly what the agents-service receives. A scope missing from sources has
// no rows and merges to {}.
func MergeAll(sources map[Scope]Sources) (Set, error) {
	var set Set
	for sc := range sources {
		if _, err := ParseScope(string(sc)); err != nil {
			return Set{}, fmt.Errorf("merge checklists: %w", err)
		}
	}
	for _, sc := range Scopes() {
		src := sources[sc]
		merged, err := Merge(src.Base, src.Customs...)
		if err != nil {
			return Set{}, fmt.Errorf("%s: %w", sc, err)
		}
		reduced, err := Reduce(merged)
		if err != nil {
			return Set{}, fmt.Errorf("%s: %w", sc, err)
		}
		switch sc {
		case ScopeHouse:
			set.House = reduced
		case ScopeRoom:
			set.Rooms = reduced
		case ScopeProduct:
			set.Products = reduced
		}
	}
	return set, nil
}

// decodeRow decodes a stored itemsRaw; no bytes at all is a row without content, as
// JSON null is, and both merge as the original's `itemsRaw || {}` did.
func decodeRow(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	return parse(raw, parseOptions{})
}

// decodeObject decodes a stored itemsRaw that should hold an object; ok is false for
// anything else (no content, null, a list...), which decodes as an empty object.
func decodeObject(raw json.RawMessage) (obj *object, ok bool, err error) {
	v, err := decodeRow(raw)
	if err != nil {
		return nil, false, err
	}
	if obj, ok := v.(*object); ok {
		return obj, true, nil
	}
	return newObject(), false, nil
}

// mergeChecklist is one step of the fold: acc with custom merged in. Neither input is
// modified; the result shares whatever the step did not change.
func mergeChecklist(acc, custom *object) *object {
	out := acc.clone()

	if cd, ok := get[*object](custom, "default"); ok {
		if citems, ok := get[[]any](cd, "items"); ok {
			group, ok := get[*object](out, "default")
			if ok {
				group = group.clone()
			} else {
				group = newObject()
				desc, _ := cd.get("description")
				if !truthy(desc) {
					desc = ""
				}
				group.set("description", desc)
				group.set("items", []any{})
			}
			// A default without items made the original throw; an empty list is what
			// the user meant.
			items, _ := get[[]any](group, "items")
			group.set("items", mergeItems(items, citems))
			out.set("default", group)
		}
	}

	for _, key := range [...]string{"house_types", "room_types"} {
		ctypes, ok := get[*object](custom, key)
		if !ok {
			continue
		}
		types, ok := get[*object](out, key)
		if ok {
			types = types.clone()
		} else {
			types = newObject()
		}
		for _, name := range ctypes.keys {
			cgroup, ok := ctypes.vals[name].(*object)
			if !ok {
				continue
			}
			group, ok := get[*object](types, name)
			if !ok {
				types.set(name, cgroup)
				continue
			}
			citems, ok := get[[]any](cgroup, "items")
			if !ok {
				continue
			}
			group = group.clone()
			items, _ := get[[]any](group, "items")
			group.set("items", mergeItems(items, citems))
			types.set(name, group)
		}
		out.set(key, types)
	}

	if citems, ok := get[[]any](custom, "items"); ok {
		items, _ := get[[]any](out, "items")
		out.set("items", mergeItems(items, citems))
	}
	return out
}

// mergeItems merges a custom item list into an existing one by id. Matching searches the
// growing result, as the original's findIndex did, so a custom list that repeats an id
// merges the second occurrence into the first.
func mergeItems(items, custom []any) []any {
	out := make([]any, len(items), len(items)+len(custom))
	copy(out, items)
	index := make(map[string]int, len(out)+len(custom))
	for i, it := range out {
		if id, ok := itemID(it); ok {
			if _, seen := index[id]; !seen {
				index[id] = i
			}
		}
	}
	for _, c := range custom {
		id, hasID := itemID(c)
		if i, ok := index[id]; hasID && ok {
			out[i] = mergeItem(out[i].(*object), c.(*object))
			continue
		}
		if hasID {
			index[id] = len(out)
		}
		out = append(out, c)
	}
	return out
}

// mergeItem is {...item, ...custom} with subitems merged by id.
func mergeItem(item, custom *object) *object {
	out := item.clone()
	for _, k := range custom.keys {
		out.set(k, custom.vals[k])
	}
	base, hasBase := item.get("subitems")
	switch csub, ok := get[[]any](custom, "subitems"); {
	case ok:
		bsub, _ := base.([]any)
		out.set("subitems", mergeItems(bsub, csub))
	case hasBase:
		out.set("subitems", base)
	default:
		// The original set subitems to undefined here, which JSON drops: an item that
		// had no subitems gets no subitems key, not a null one.
		out.del("subitems")
	}
	return out
}

// itemID returns the id of an item that has a string id; ids of any other type never
// match, which Validate and Reduce make moot for what reaches the agents.
func itemID(v any) (string, bool) {
	o, ok := v.(*object)
	if !ok {
		return "", false
	}
	id, ok := o.vals["id"].(string)
	return id, ok
}

// get returns o[key] when it is present and of type T.
func get[T any](o *object, key string) (T, bool) {
	v, ok := o.vals[key].(T)
	return v, ok
}
