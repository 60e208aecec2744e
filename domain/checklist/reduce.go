package checklist

import (
	"encoding/json"
	"fmt"
)

// Reduce makes a merged checklist safe to send to the agents-service. The agents turn
// every item into a pydantic model with extra="forbid" and strict types, and index the
// checklist without checking its shape, so one stray key or odd value stored by any
// user fails the whole scan (contracts/housescanner.md sections 5.3 and 9 item 28).
// Validate keeps new rows clean; Reduce covers rows stored before it, base rows and the
// merge result, and leaves a checklist that Validate accepts unchanged.
//
// Items, in default.items, house_types.*.items, room_types.*.items and the top-level
// items:
//   - keep only id, type, text, title, description, options and subitems, in their order;
//   - are dropped when they are not objects, have no non-empty string id, or have no
//     string type. The house and room agents skip id-less items themselves, so dropping
//     them changes nothing there; the product agent does not skip them and would fail;
//   - lose text, title or description values that are neither strings nor null, options
//     that are not a list, and subitems that are not a list;
//   - keep only the string options, and for conditional items only the quality values
//     Poor, Average, Good, Excellent and N/A, because the agents' answer model for a
//     conditional accepts nothing else.
//
// Subitems are free dicts to the agents' item model, but the agents read their id,
// title and options to build the prompt and the answer (a stray "label" would even
// replace the title), so they are reduced the same way: only id, type, text, title,
// description and options, a non-empty string id required, options limited to the
// quality values; subitems of subitems are dropped because nothing reads them.
//
// The structure is made safe too: a default or type group that is not an object, a
// house_types or room_types that is not an object, and an items that is not a list
// are dropped. A checklist that is not an object becomes {}. Every other top-level or
// group key, such as description, passes through unchanged.
func Reduce(checklist json.RawMessage) (json.RawMessage, error) {
	root, _, err := decodeObject(checklist)
	if err != nil {
		return nil, fmt.Errorf("reduce checklist: %w", err)
	}
	out, err := encode(reduceChecklist(root))
	if err != nil {
		return nil, fmt.Errorf("reduce checklist: %w", err)
	}
	return out, nil
}

func reduceChecklist(root *object) *object {
	out := reduceGroup(root) // the top level's items are reduced as a group's are
	if v, ok := out.get("default"); ok {
		if g, isObj := v.(*object); isObj {
			out.set("default", reduceGroup(g))
		} else {
			out.del("default")
		}
	}
	for _, key := range [...]string{"house_types", "room_types"} {
		v, ok := out.get(key)
		if !ok {
			continue
		}
		types, isObj := v.(*object)
		if !isObj {
			out.del(key)
			continue
		}
		reduced := newObject()
		for _, name := range types.keys {
			if g, ok := types.vals[name].(*object); ok {
				reduced.set(name, reduceGroup(g))
			}
		}
		out.set(key, reduced)
	}
	return out
}

func reduceGroup(g *object) *object {
	out := g.clone()
	if v, ok := out.get("items"); ok {
		if items, isList := v.([]any); isList {
			out.set("items", reduceItems(items))
		} else {
			out.del("items")
		}
	}
	return out
}

func reduceItems(items []any) []any {
	out := make([]any, 0, len(items))
	for _, v := range items {
		it, ok := v.(*object)
		if !ok || !hasID(it) {
			continue
		}
		typ, ok := get[string](it, "type")
		if !ok {
			continue
		}
		out = append(out, reduceItem(it, typ == TypeConditional, true))
	}
	return out
}

// reduceItem keeps the allowed keys of an item, or of a subitem when top is false.
// qualityOnly limits options to the quality values.
func reduceItem(it *object, qualityOnly, top bool) *object {
	out := newObject()
	for _, k := range it.keys {
		v := it.vals[k]
		switch k {
		case "id", "type":
			if _, ok := v.(string); ok {
				out.set(k, v)
			}
		case "text", "title", "description":
			if _, ok := v.(string); ok || v == nil {
				out.set(k, v)
			}
		case "options":
			switch opts := v.(type) {
			case nil:
				out.set(k, nil)
			case []any:
				out.set(k, reduceOptions(opts, qualityOnly))
			}
		case "subitems":
			if !top {
				continue
			}
			switch subs := v.(type) {
			case nil:
				out.set(k, nil)
			case []any:
				out.set(k, reduceSubitems(subs))
			}
		}
	}
	return out
}

func reduceSubitems(subs []any) []any {
	out := make([]any, 0, len(subs))
	for _, v := range subs {
		if s, ok := v.(*object); ok && hasID(s) {
			out = append(out, reduceItem(s, true, false))
		}
	}
	return out
}

func reduceOptions(opts []any, qualityOnly bool) []any {
	out := make([]any, 0, len(opts))
	for _, v := range opts {
		s, ok := v.(string)
		if !ok || (qualityOnly && !isQuality(s)) {
			continue
		}
		out = append(out, s)
	}
	return out
}

func hasID(o *object) bool {
	id, ok := get[string](o, "id")
	return ok && id != ""
}
