package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain/erasure"
)

// The document served at /api/v1/openapi.json is valid OpenAPI 3.1 and describes
// exactly the routes the router registers: a route added without its description, or
// a description left behind by a removed route, fails here.
func TestOpenAPIDocumentDescribesEveryRouteAndNoOther(t *testing.T) {
	// Every optional part present, so that every route is registered; none is called.
	api := httpapi.New(httpapi.Config{
		Tokens:         &token.Issuer{Secret: []byte("jwt-secret-0123456789abcdef")},
		SSE:            struct{ httpapi.LiveTransport }{},
		WebSocket:      struct{ httpapi.WebSocketTransport }{},
		Eraser:         &erasure.Eraser{},
		Metrics:        http.NotFoundHandler(),
		Accounts:       struct{ httpapi.Accounts }{},
		ChecklistStore: struct{ httpapi.ChecklistStore }{},
		Console:        struct{ httpapi.Console }{},
		Analytics:      struct{ httpapi.Analytics }{},
	})
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	doc, err := libopenapi.NewDocument(body)
	if err != nil {
		t.Fatalf("parse the document: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("OpenAPI version %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("build a validator: %v", errs)
	}
	if ok, problems := v.ValidateDocument(); !ok {
		for _, p := range problems {
			t.Errorf("the document breaks the OpenAPI 3.1 schema: %s (%s)", p.Message, p.Reason)
		}
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("build the model: %v", err)
	}

	described := map[string]bool{}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	param := regexp.MustCompile(`:(\w+)`)
	served := map[string]bool{}
	for _, r := range api.Routes() {
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	for _, missing := range difference(served, described) {
		t.Errorf("route %s is not in the OpenAPI document", missing)
	}
	for _, extra := range difference(described, served) {
		t.Errorf("the OpenAPI document describes %s, which is not a route", extra)
	}
	if len(served) < 40 {
		t.Fatalf("only %d routes registered: the test's configuration leaves some out", len(served))
	}
}

func difference(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
