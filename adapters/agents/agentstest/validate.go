package agentstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// scanRequest is a request that passed FastAPI's validation of ScanRequest.
type scanRequest struct {
	rooms    []room
	house    map[string]any
	roomsCL  map[string]any
	products map[string]any
}

type room struct {
	id   string
	urls []string
}

const pydanticDocs = "https://errors.pydantic.dev/2.8/v/"

// allowedItemKey reports whether k is one of AgentChecklistItem's fields; the model has
// extra="forbid".
func allowedItemKey(k string) bool {
	switch k {
	case "id", "type", "text", "title", "description", "options", "subitems":
		return true
	}
	return false
}

func perr(typ, msg string, input any, loc ...any) ValidationError {
	return ValidationError{Type: typ, Loc: append([]any{"body"}, loc...), Msg: msg, Input: input, URL: pydanticDocs + typ}
}

// validate does what FastAPI does before the route runs (body parsing and ScanRequest
// validation, every error at once) and then the route's own "no rooms" check. It
// returns a status and detail when the request is refused.
func validate(contentType string, body []byte) (*scanRequest, int, any) {
	if len(body) == 0 {
		return nil, http.StatusUnprocessableEntity, []ValidationError{perr("missing", "Field required", nil)}
	}
	// FastAPI parses the body as JSON only when the Content-Type says JSON (or is
	// absent); otherwise pydantic sees raw bytes and refuses them.
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
			return nil, http.StatusUnprocessableEntity, []ValidationError{
				perr("model_attributes_type", "Input should be a valid dictionary or object to extract fields from", string(body)),
			}
		}
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		pos := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			pos = int(se.Offset)
		}
		return nil, http.StatusUnprocessableEntity, []ValidationError{{
			Type: "json_invalid", Loc: []any{"body", pos}, Msg: "JSON decode error",
			Input: map[string]any{}, Ctx: map[string]any{"error": err.Error()},
		}}
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, http.StatusUnprocessableEntity, []ValidationError{
			perr("model_attributes_type", "Input should be a valid dictionary or object to extract fields from", doc),
		}
	}

	var errs []ValidationError
	req := &scanRequest{}
	if v, ok := top["rooms"]; !ok {
		errs = append(errs, perr("missing", "Field required", top, "rooms"))
	} else {
		req.rooms, errs = validateRooms(v, errs)
	}
	for _, f := range []struct {
		key string
		dst *map[string]any
	}{{"house_checklist", &req.house}, {"rooms_checklist", &req.roomsCL}, {"products_checklist", &req.products}} {
		v, ok := top[f.key]
		if !ok {
			errs = append(errs, perr("missing", "Field required", top, f.key))
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			errs = append(errs, perr("dict_type", "Input should be a valid dictionary", v, f.key))
			continue
		}
		*f.dst = m
	}
	if len(errs) > 0 {
		return nil, http.StatusUnprocessableEntity, errs
	}
	if len(req.rooms) == 0 {
		return nil, http.StatusBadRequest, "At least one room must be provided"
	}
	return req, 0, nil
}

func validateRooms(v any, errs []ValidationError) ([]room, []ValidationError) {
	list, ok := v.([]any)
	if !ok {
		return nil, append(errs, perr("list_type", "Input should be a valid list", v, "rooms"))
	}
	rooms := make([]room, 0, len(list))
	for i, rv := range list {
		m, ok := rv.(map[string]any)
		if !ok {
			errs = append(errs, perr("model_attributes_type", "Input should be a valid dictionary or object to extract fields from", rv, "rooms", i))
			continue
		}
		var r room
		switch id, ok := m["room_id"]; {
		case !ok:
			errs = append(errs, perr("missing", "Field required", m, "rooms", i, "room_id"))
		case !isString(id):
			errs = append(errs, perr("string_type", "Input should be a valid string", id, "rooms", i, "room_id"))
		default:
			r.id = id.(string)
		}
		switch urls, ok := m["image_urls"]; {
		case !ok:
			errs = append(errs, perr("missing", "Field required", m, "rooms", i, "image_urls"))
		default:
			ul, ok := urls.([]any)
			if !ok {
				errs = append(errs, perr("list_type", "Input should be a valid list", urls, "rooms", i, "image_urls"))
				break
			}
			for j, u := range ul {
				s, ok := u.(string)
				if !ok {
					errs = append(errs, perr("string_type", "Input should be a valid string", u, "rooms", i, "image_urls", j))
					continue
				}
				r.urls = append(r.urls, s)
			}
		}
		rooms = append(rooms, r)
	}
	return rooms, errs
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// checklistItem is one item the pipeline reads, with where it came from for messages.
type checklistItem struct {
	fields map[string]any
	path   string
}

// itemsAt returns the item list at cl[key]["items"] (or cl["items"] when key is ""),
// failing as the pipeline's Python would on a malformed checklist.
func itemsAt(cl map[string]any, scope, key string) ([]checklistItem, error) {
	holder := cl
	path := scope
	if key != "" {
		v, ok := cl[key]
		if !ok {
			return nil, nil
		}
		h, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("'%s' object has no attribute 'get'", pyType(v))
		}
		holder = h
		path += "." + key
	}
	v, ok := holder["items"]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("'%s' object is not iterable as a checklist item list (%s.items)", pyType(v), path)
	}
	out := make([]checklistItem, 0, len(list))
	for i, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("'%s' object has no attribute 'get'", pyType(it))
		}
		out = append(out, checklistItem{fields: m, path: fmt.Sprintf("%s.items[%d]", path, i)})
	}
	return out, nil
}

// typedItems returns the items of every type of cl[typesKey] (house_types, room_types),
// types in sorted order.
func typedItems(cl map[string]any, scope, typesKey string) (map[string][]checklistItem, []string, error) {
	v, ok := cl[typesKey]
	if !ok {
		return nil, nil, nil
	}
	types, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("'%s' object has no attribute 'keys'", pyType(v))
	}
	names := make([]string, 0, len(types))
	for name := range types {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string][]checklistItem{}
	for _, name := range names {
		items, err := itemsAt(map[string]any{name: types[name]}, scope+"."+typesKey, name)
		if err != nil {
			return nil, nil, err
		}
		out[name] = items
	}
	return out, names, nil
}

// checkItem validates one item as AgentChecklistItem(**item) does and returns pydantic's
// message, or "" when the item is fine.
func checkItem(item map[string]any) string {
	var lines []string
	add := func(loc, msg, typ string, input any) {
		lines = append(lines, fmt.Sprintf("%s\n  %s [type=%s, input_value=%s, input_type=%s]\n    For further information visit %s%s",
			loc, msg, typ, pyRepr(input), pyType(input), pydanticDocs, typ))
	}
	optionalString := func(key string) {
		if v, ok := item[key]; ok && v != nil && !isString(v) {
			add(key, "Input should be a valid string", "string_type", v)
		}
	}
	switch id, ok := item["id"]; {
	case !ok:
		add("id", "Field required", "missing", item)
	case !isString(id):
		add("id", "Input should be a valid string", "string_type", id)
	}
	switch t, ok := item["type"]; {
	case !ok:
		add("type", "Field required", "missing", item)
	case !isString(t):
		add("type", "Input should be a valid string", "string_type", t)
	}
	optionalString("text")
	optionalString("title")
	optionalString("description")
	if v, ok := item["options"]; ok && v != nil {
		if list, ok := v.([]any); !ok {
			add("options", "Input should be a valid list", "list_type", v)
		} else {
			for i, o := range list {
				if !isString(o) {
					add("options."+strconv.Itoa(i), "Input should be a valid string", "string_type", o)
				}
			}
		}
	}
	if v, ok := item["subitems"]; ok && v != nil {
		if list, ok := v.([]any); !ok {
			add("subitems", "Input should be a valid list", "list_type", v)
		} else {
			for i, o := range list {
				if _, ok := o.(map[string]any); !ok {
					add("subitems."+strconv.Itoa(i), "Input should be a valid dictionary", "dict_type", o)
				}
			}
		}
	}
	keys := make([]string, 0, len(item))
	for k := range item {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !allowedItemKey(k) {
			add(k, "Extra inputs are not permitted", "extra_forbidden", item[k])
		}
	}
	if len(lines) == 0 {
		return ""
	}
	noun := "errors"
	if len(lines) == 1 {
		noun = "error"
	}
	return fmt.Sprintf("%d validation %s for AgentChecklistItem\n%s", len(lines), noun, strings.Join(lines, "\n"))
}

// truthy is Python's truth test, which the pipeline uses on item ids ("if item_id").
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case float64:
		return t != 0
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return true
}

func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// pyRepr approximates Python's repr() of a JSON value for pydantic-like messages.
func pyRepr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case string:
		return "'" + strings.ReplaceAll(t, "'", `\'`) + "'"
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
