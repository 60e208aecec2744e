package checklist

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/scanledger/scanledger/domain"
)

// Limits on a stored checklist. They are far above what the PWA editor or a sensible
// inspection needs and keep one checklist from turning every scan into a huge prompt.
const (
	MaxItems             = 500  // items in one checklist, all groups together (subitems not counted)
	MaxSubitems          = 50   // subitems of one item
	MaxOptions           = 50   // options of one item or subitem
	MaxTypes             = 100  // keys of house_types or room_types
	MaxIDLength          = 100  // characters of an id or a type name
	MaxTitleLength       = 200  // characters of a title or text
	MaxDescriptionLength = 2000 // characters of a description
	MaxOptionLength      = 100  // characters of one option
)

const (
	// maxDepth is the deepest legitimate nesting (top, house_types, a type group, items,
	// an item, subitems, a subitem, options); anything deeper is certainly wrong, and
	// the check runs while parsing, before any work on a pathological document.
	maxDepth = 8
	// maxProblems bounds the error details a single request gets back.
	maxProblems = 50
)

// Validate checks a checklist a user or admin stores (itemsRaw of PUT /checklists/...)
// for scope "house", "room" or "product". Every problem found is listed in the
// *domain.Error's Details, the first also in its Message; the code is EINVALID.
//
// A checklist is a JSON object without repeated keys and nested at most 8 deep with:
//   - house: description, default and house_types; room: description, default and
//     room_types; product: description and either items or default (the agents use
//     default.items instead of items when both exist, so both at once is refused);
//   - groups (default and each type) with only description and items; type names with
//     the same rules as ids; at most MaxTypes types;
//   - items: objects with only id, type, text, title, description, options and subitems
//     (the agents refuse any other key); a non-empty id of at most MaxIDLength
//     characters without control characters or surrounding spaces, unique in its list;
//     type boolean, categorical or conditional; strings for text, title and description;
//     options a list of non-blank strings, quality values for a conditional item;
//   - subitems: objects with only id, type (categorical), text, title, description and
//     options (quality values), ids unique in their list; no subitems of their own.
//
// Every item restates its type, even one that overrides a base item by id, so that an
// item still works when the base it overrode changes.
func Validate(scope string, itemsRaw json.RawMessage) error {
	sc, err := ParseScope(scope)
	if err != nil {
		return err
	}
	c := checker{scope: sc}
	v, err := parse(itemsRaw, parseOptions{rejectDuplicates: true, maxDepth: maxDepth})
	if err != nil {
		c.add("", describeParseError(err))
		return c.err()
	}
	root, ok := v.(*object)
	if !ok {
		c.add("", "must be a JSON object")
		return c.err()
	}
	if !validTexts(v) {
		c.add("", "keys and strings must not contain control characters other than tab and line breaks")
		return c.err()
	}
	c.checklist(root)
	if c.total > 0 {
		return c.err()
	}
	return nil
}

func describeParseError(err error) string {
	var dup *duplicateKeyError
	var deep *tooDeepError
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &dup), errors.As(err, &deep):
		return err.Error()
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
	default:
		return fmt.Sprintf("not valid JSON: %v", err)
	}
}

// checker collects every problem of one checklist, so a user fixes them all at once.
type checker struct {
	scope    Scope
	problems []string
	total    int
	nItems   int // items seen so far, for MaxItems
}

func (c *checker) add(path, problem string) {
	c.total++
	if len(c.problems) >= maxProblems {
		return
	}
	if path != "" {
		problem = path + ": " + problem
	}
	c.problems = append(c.problems, problem)
}

func (c *checker) err() error {
	msg := fmt.Sprintf("invalid %s checklist: %s", c.scope, c.problems[0])
	if c.total > 1 {
		msg += fmt.Sprintf(" (and %d more)", c.total-1)
	}
	return &domain.Error{Code: domain.EINVALID, Message: msg, Details: c.problems}
}

func (c *checker) checklist(root *object) {
	typesKey := map[Scope]string{ScopeHouse: "house_types", ScopeRoom: "room_types"}[c.scope]
	for _, k := range root.keys {
		v := root.vals[k]
		switch {
		case k == "description":
			c.text(k, v, MaxDescriptionLength)
		case k == "default":
			c.group(k, v)
		case k == typesKey && typesKey != "":
			c.types(k, v)
		case k == "items" && c.scope == ScopeProduct:
			c.items(k, v)
		case k == "house_types", k == "room_types", k == "items":
			c.add(k, fmt.Sprintf("not part of a %s checklist, which has only %s", c.scope, scopeKeys(c.scope)))
		default:
			c.add(pathKey("", k), fmt.Sprintf("unknown key; a %s checklist has only %s", c.scope, scopeKeys(c.scope)))
		}
	}
	_, hasItems := root.get("items")
	_, hasDefault := root.get("default")
	if c.scope == ScopeProduct && hasItems && hasDefault {
		c.add("", "use either items or default, not both: the agents ignore items when default has items")
	}
}

func scopeKeys(sc Scope) string {
	switch sc {
	case ScopeHouse:
		return "description, default and house_types"
	case ScopeRoom:
		return "description, default and room_types"
	default:
		return "description and items (or default)"
	}
}

func (c *checker) group(path string, v any) {
	g, ok := v.(*object)
	if !ok {
		c.add(path, "must be an object with description and items")
		return
	}
	for _, k := range g.keys {
		switch k {
		case "description":
			c.text(path+".description", g.vals[k], MaxDescriptionLength)
		case "items":
			c.items(path+".items", g.vals[k])
		default:
			c.add(pathKey(path, k), "unknown key; a group has only description and items")
		}
	}
}

func (c *checker) types(path string, v any) {
	types, ok := v.(*object)
	if !ok {
		c.add(path, "must be an object of type name to group")
		return
	}
	if len(types.keys) > MaxTypes {
		c.add(path, fmt.Sprintf("has %d types, more than %d", len(types.keys), MaxTypes))
	}
	for _, name := range types.keys {
		p := pathKey(path, name)
		if problem := idProblem(name); problem != "" {
			c.add(p, "type name "+problem)
		}
		c.group(p, types.vals[name])
	}
}

// list is v as a list, or reports that it must be a list of what.
func (c *checker) list(path string, v any, what string) ([]any, bool) {
	list, ok := v.([]any)
	if !ok {
		c.add(path, "must be a list of "+what)
	}
	return list, ok
}

func (c *checker) items(path string, v any) {
	list, ok := c.list(path, v, "items")
	if !ok {
		return
	}
	before := c.nItems
	c.nItems += len(list)
	if before <= MaxItems && c.nItems > MaxItems {
		c.add(path, fmt.Sprintf("brings the checklist to more than %d items", MaxItems))
	}
	c.eachItem(path, list, true)
}

// eachItem checks the items of list, or subitems when top is false, and that no two
// share an id.
func (c *checker) eachItem(path string, list []any, top bool) {
	seen := make(map[string]int, len(list))
	for i, it := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		if id := c.item(p, it, top); id != "" {
			if j, dup := seen[id]; dup {
				c.add(p+".id", fmt.Sprintf("%q is already the id of %s[%d]", id, path, j))
			} else {
				seen[id] = i
			}
		}
	}
}

// item checks an item, or a subitem when top is false, and returns its id when valid.
func (c *checker) item(path string, v any, top bool) string {
	it, ok := v.(*object)
	if !ok {
		c.add(path, "must be an object")
		return ""
	}
	var id string
	idv, hasID := it.get("id")
	switch s, isStr := idv.(string); {
	case !hasID:
		c.add(path, "id is missing")
	case !isStr:
		c.add(path+".id", "must be a string")
	default:
		if problem := idProblem(s); problem != "" {
			c.add(path+".id", problem)
		} else {
			id = s
		}
	}

	typ, hasType := it.get("type")
	ts, _ := typ.(string)
	switch {
	case !hasType && top:
		c.add(path, "type is missing (boolean, categorical or conditional)")
	case !hasType:
	case top && !isItemType(ts):
		c.add(path+".type", "must be one of boolean, categorical, conditional")
	case !top && ts != TypeCategorical:
		c.add(path+".type", "a subitem's type must be categorical")
	}

	for _, k := range it.keys {
		p := pathKey(path, k)
		v := it.vals[k]
		switch k {
		case "id", "type":
		case "text", "title":
			c.text(p, v, MaxTitleLength)
		case "description":
			c.text(p, v, MaxDescriptionLength)
		case "options":
			c.options(p, v, !top || ts == TypeConditional)
		case "subitems":
			if top {
				c.subitems(p, v)
			} else {
				c.add(p, "subitems cannot have subitems")
			}
		default:
			if top {
				c.add(p, "unknown key; an item has only id, type, text, title, description, options and subitems")
			} else {
				c.add(p, "unknown key; a subitem has only id, type, text, title, description and options")
			}
		}
	}
	return id
}

func (c *checker) subitems(path string, v any) {
	list, ok := c.list(path, v, "subitems")
	if !ok {
		return
	}
	if len(list) > MaxSubitems {
		c.add(path, fmt.Sprintf("has %d subitems, more than %d", len(list), MaxSubitems))
	}
	c.eachItem(path, list, false)
}

func (c *checker) options(path string, v any, qualityOnly bool) {
	list, ok := c.list(path, v, "strings")
	if !ok {
		return
	}
	if len(list) > MaxOptions {
		c.add(path, fmt.Sprintf("has %d options, more than %d", len(list), MaxOptions))
	}
	for i, o := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		s, ok := o.(string)
		switch {
		case !ok:
			c.add(p, "must be a string")
		case strings.TrimSpace(s) == "":
			c.add(p, "must not be blank")
		case utf8.RuneCountInString(s) > MaxOptionLength:
			c.add(p, fmt.Sprintf("is longer than %d characters", MaxOptionLength))
		case qualityOnly && !isQuality(s):
			c.add(p, fmt.Sprintf("%q is not one of Poor, Average, Good, Excellent, N/A, the only values a conditional item or a subitem can take", s))
		}
	}
}

func (c *checker) text(path string, v any, max int) {
	s, ok := v.(string)
	switch {
	case !ok:
		c.add(path, "must be a string")
	case utf8.RuneCountInString(s) > max:
		c.add(path, fmt.Sprintf("is longer than %d characters", max))
	}
}

// idProblem says what is wrong with an id or type name, or "". Ids go verbatim into
// the agents' prompt and come back as answer keys, so they must be short, visible and
// exactly what the user sees.
func idProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case utf8.RuneCountInString(s) > MaxIDLength:
		return fmt.Sprintf("is longer than %d characters", MaxIDLength)
	case strings.TrimSpace(s) != s:
		return "must not start or end with a space"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

// pathKey names key inside path, quoting keys that would make the path ambiguous.
func pathKey(path, key string) string {
	simple := key != "" && strings.IndexFunc(key, func(r rune) bool {
		return !(r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r))
	}) < 0
	switch {
	case !simple:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

// validTexts reports whether every key and string in v is domain.ValidText: PostgreSQL
// stores checklists as JSON and refuses \u0000 in it.
func validTexts(v any) bool {
	switch v := v.(type) {
	case *object:
		for _, k := range v.keys {
			if !domain.ValidText(k) || !validTexts(v.vals[k]) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !validTexts(e) {
				return false
			}
		}
	case string:
		return domain.ValidText(v)
	}
	return true
}
