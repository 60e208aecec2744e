package checklist_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/checklist"
)

// originalsDir is where the original houseScanner checklist files live: shared/data
// beside the repository. The tests fail without them, because a silently skipped
// compatibility test is worse than a red one.
func originalsDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
	data := filepath.Join(dir, "..", "shared", "data", "checklists", "housescanner")
	if _, err := os.Stat(data); err != nil {
		tb.Fatalf("the original checklists are missing: %v", err)
	}
	return data
}

// original reads one of the original checklist files.
func original(tb testing.TB, name string) json.RawMessage {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(originalsDir(tb), name))
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	return b
}

// originals maps each scope to its original base file.
func originals(tb testing.TB) map[checklist.Scope]json.RawMessage {
	return map[checklist.Scope]json.RawMessage{
		checklist.ScopeHouse:   original(tb, "house_type_checklist.json"),
		checklist.ScopeRoom:    original(tb, "rooms_type_checklist.json"),
		checklist.ScopeProduct: original(tb, "products_type_checklist.json"),
	}
}

func defaults(tb testing.TB) map[checklist.Scope]json.RawMessage {
	tb.Helper()
	d, err := checklist.Defaults()
	if err != nil {
		tb.Fatalf("Defaults: %v", err)
	}
	return d
}

// compact is the expected form of a JSON literal written readably in a test.
func compact(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		tb.Fatalf("bad JSON in test: %v\n%s", err, s)
	}
	return buf.String()
}

func raws(docs ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		out[i] = json.RawMessage(d)
	}
	return out
}

func merge(tb testing.TB, base string, customs ...string) string {
	tb.Helper()
	var b json.RawMessage
	if base != "" {
		b = json.RawMessage(base)
	}
	out, err := checklist.Merge(b, raws(customs...)...)
	if err != nil {
		tb.Fatalf("Merge: %v", err)
	}
	return string(out)
}

// assertMerge checks the exact merged bytes, which also checks key order.
func assertMerge(tb testing.TB, want, base string, customs ...string) {
	tb.Helper()
	if got, w := merge(tb, base, customs...), compact(tb, want); got != w {
		tb.Errorf("merged\n got %s\nwant %s", got, w)
	}
}

func reduce(tb testing.TB, doc string) string {
	tb.Helper()
	out, err := checklist.Reduce(json.RawMessage(doc))
	if err != nil {
		tb.Fatalf("Reduce: %v", err)
	}
	return string(out)
}

// keys returns the keys of the object at path (a list of object keys) in raw, in order.
func keys(tb testing.TB, raw []byte, path ...string) []string {
	tb.Helper()
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			tb.Fatalf("keys: %v", err)
		}
		raw = m[p]
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("keys: %v is not an object (%v)", path, err)
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatalf("keys: %v", err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil && !errors.Is(err, io.EOF) {
			tb.Fatalf("keys: %v", err)
		}
	}
	return out
}

// ids returns the ids of the item list at path in raw.
func ids(tb testing.TB, raw []byte, path ...string) []string {
	tb.Helper()
	var cur any
	if err := json.Unmarshal(raw, &cur); err != nil {
		tb.Fatalf("ids: %v", err)
	}
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			tb.Fatalf("ids: %v: not an object at %q", path, p)
		}
		cur = m[p]
	}
	list, ok := cur.([]any)
	if !ok {
		tb.Fatalf("ids: %v is not a list", path)
	}
	out := make([]string, len(list))
	for i, it := range list {
		out[i], _ = it.(map[string]any)["id"].(string)
	}
	return out
}

// item returns the item with id in the list at path.
func item(tb testing.TB, raw []byte, id string, path ...string) map[string]any {
	tb.Helper()
	var cur any
	if err := json.Unmarshal(raw, &cur); err != nil {
		tb.Fatalf("item: %v", err)
	}
	for _, p := range path {
		cur = cur.(map[string]any)[p]
	}
	for _, it := range cur.([]any) {
		if m := it.(map[string]any); m["id"] == id {
			return m
		}
	}
	tb.Fatalf("item %q not found in %v", id, path)
	return nil
}

// assertInvalid checks that err is an EINVALID *domain.Error.
func assertInvalid(tb testing.TB, err error) *domain.Error {
	tb.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.EINVALID {
		tb.Fatalf("want an EINVALID *domain.Error, got %v", err)
	}
	return de
}
