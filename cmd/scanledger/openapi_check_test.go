package main_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
)

// checkOpenAPI makes every request srv.do sends from now on, and every answer, be
// validated against the OpenAPI document the server itself serves: any answer that
// breaks it fails the test, and so does any request the server accepted (2xx) that
// breaks it. Requests the server refused are the tests' deliberate mistakes, so only
// their answers are checked.
func checkOpenAPI(t *testing.T, srv *server) {
	t.Helper()
	r := srv.do("GET", "/api/v1/openapi.json", "", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d", r.Status)
	}
	doc, err := libopenapi.NewDocument(r.Body)
	if err != nil {
		t.Fatalf("parse the served OpenAPI document: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("OpenAPI validator: %v", errs)
	}
	check := &openAPICheck{t: t, v: v, next: http.DefaultTransport}
	srv.client = &http.Client{Transport: check}
	t.Cleanup(func() {
		check.mu.Lock()
		defer check.mu.Unlock()
		t.Logf("OpenAPI: %d exchanges validated", check.checked)
		if check.checked == 0 {
			t.Error("OpenAPI: no exchange was validated")
		}
	})
}

type openAPICheck struct {
	t    *testing.T
	next http.RoundTripper
	mu   sync.Mutex // the validator's caches are not documented as safe for concurrent use
	v    validator.Validator
	// checked counts the exchanges validated, so a test can tell the check ran.
	checked int
}

func (c *openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, nil // streams are described, not validated message by message
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	checkResp := *resp
	checkResp.Body = io.NopCloser(bytes.NewReader(respBody))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	var problems []*verrors.ValidationError
	if resp.StatusCode/100 == 2 {
		if ok, errs := c.v.ValidateHttpRequestSync(check); !ok {
			problems = append(problems, errs...)
		}
	}
	if ok, errs := c.v.ValidateHttpResponse(check, &checkResp); !ok {
		problems = append(problems, errs...)
	}
	for _, p := range problems {
		if resp.StatusCode == http.StatusNotFound && p.IsPathMissingError() {
			continue // a deliberately unknown route: not in the document, and answered 404
		}
		c.t.Errorf("OpenAPI: %s %s -> %d: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, describe(p))
	}
	return resp, nil
}

func describe(p *verrors.ValidationError) string {
	s := p.Message
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	for _, e := range p.SchemaValidationErrors {
		s += fmt.Sprintf("; %s at %s", e.Reason, e.FieldPath)
	}
	return s
}
