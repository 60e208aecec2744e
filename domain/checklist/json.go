package checklist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Checklists are handled as a tree of decoded JSON values rather than map[string]any
// because key order carries meaning: the keys of house_types and room_types are, in
// order, the types the agents may choose from, and users expect their items and keys
// back as they wrote them. A value in the tree is one of *object, []any, string,
// json.Number (the literal as written, so numbers never lose precision), bool or nil.

// object is a JSON object that remembers the order of its keys.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

// get returns the value of key; absent keys give (nil, false), JSON null gives (nil, true).
func (o *object) get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// set replaces the value of an existing key in place, and appends a new key at the end:
// the same rule as assigning a property of a JavaScript object, which the original merge
// relied on for the order it produced.
func (o *object) set(key string, v any) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

func (o *object) del(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			return
		}
	}
}

// clone is shallow: merging builds new containers along the path it changes and shares
// the rest, so an input tree is never modified.
func (o *object) clone() *object {
	c := &object{keys: make([]string, len(o.keys)), vals: make(map[string]any, len(o.vals))}
	copy(c.keys, o.keys)
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// parseOptions tighten parsing for user input; merging stored rows parses leniently.
type parseOptions struct {
	// rejectDuplicates fails on a key repeated in one object. Lenient parsing keeps the
	// last value at the first key's position, as JavaScript's JSON.parse does.
	rejectDuplicates bool
	// maxDepth limits nested objects and arrays (the top value is depth 1); 0 is no limit
	// beyond encoding/json's own.
	maxDepth int
}

// duplicateKeyError reports a key repeated in one object under rejectDuplicates.
type duplicateKeyError struct{ key string }

func (e *duplicateKeyError) Error() string { return fmt.Sprintf("duplicate key %q", e.key) }

// tooDeepError reports nesting beyond parseOptions.maxDepth.
type tooDeepError struct{ max int }

func (e *tooDeepError) Error() string { return fmt.Sprintf("nested deeper than %d levels", e.max) }

// parse decodes one JSON document into the order-preserving tree.
func parse(data []byte, opt parseOptions) (any, error) {
	// The full syntax check first gives a precise error with an offset, and lets the
	// token walk below trust the shape of what it reads.
	var syntax json.RawMessage
	if err := json.Unmarshal(data, &syntax); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := parser{dec: dec, opt: opt}
	v, err := p.value(1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

type parser struct {
	dec *json.Decoder
	opt parseOptions
}

func (p *parser) value(depth int) (any, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if p.opt.maxDepth > 0 && depth > p.opt.maxDepth {
		return nil, &tooDeepError{max: p.opt.maxDepth}
	}
	switch d {
	case '{':
		o := newObject()
		for p.dec.More() {
			kt, err := p.dec.Token()
			if err != nil {
				return nil, err
			}
			key, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("object key is %T, not a string", kt)
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if _, dup := o.vals[key]; dup && p.opt.rejectDuplicates {
				return nil, &duplicateKeyError{key: key}
			}
			o.set(key, v)
		}
		if _, err := p.dec.Token(); err != nil { // the closing '}'
			return nil, err
		}
		return o, nil
	case '[':
		// Non-nil so that an empty array encodes as [] and never as null.
		a := []any{}
		for p.dec.More() {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := p.dec.Token(); err != nil { // the closing ']'
			return nil, err
		}
		return a, nil
	default:
		return nil, fmt.Errorf("unexpected %q", rune(d))
	}
}

// encode writes the tree as compact JSON.
func encode(v any) (json.RawMessage, error) {
	var e encoder
	e.str = json.NewEncoder(&e.buf)
	// Titles such as "Tables & chairs" stay readable in stored events; the output is
	// JSON for the agents, never HTML.
	e.str.SetEscapeHTML(false)
	if err := e.value(v); err != nil {
		return nil, err
	}
	return json.RawMessage(e.buf.Bytes()), nil
}

type encoder struct {
	buf bytes.Buffer
	str *json.Encoder
}

func (e *encoder) value(v any) error {
	switch t := v.(type) {
	case *object:
		e.buf.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			if err := e.string(k); err != nil {
				return err
			}
			e.buf.WriteByte(':')
			if err := e.value(t.vals[k]); err != nil {
				return err
			}
		}
		e.buf.WriteByte('}')
	case []any:
		e.buf.WriteByte('[')
		for i, x := range t {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			if err := e.value(x); err != nil {
				return err
			}
		}
		e.buf.WriteByte(']')
	case string:
		return e.string(t)
	case json.Number:
		e.buf.WriteString(string(t)) // the decoder checked the literal
	case bool:
		if t {
			e.buf.WriteString("true")
		} else {
			e.buf.WriteString("false")
		}
	case nil:
		e.buf.WriteString("null")
	default:
		return fmt.Errorf("cannot encode %T", v)
	}
	return nil
}

func (e *encoder) string(s string) error {
	if err := e.str.Encode(s); err != nil {
		return fmt.Errorf("encode string: %w", err)
	}
	e.buf.Truncate(e.buf.Len() - 1) // Encode ends every value with a newline
	return nil
}

// truthy is JavaScript's truthiness of a decoded JSON value. The original merge chose
// between values with `||`, and matching it keeps the same result for odd inputs.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case json.Number:
		f, err := t.Float64()
		// Literals beyond float64 range are ±Inf in JavaScript, which is truthy.
		return err != nil || f != 0
	default:
		return true // objects and arrays, even empty ones
	}
}
