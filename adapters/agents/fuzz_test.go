package agents_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/scanledger/scanledger/adapters/agents"
	"github.com/scanledger/scanledger/domain/analysis"
)

// FuzzAnalyze_ResponseDecoder feeds arbitrary 200 bodies through the client: it must never
// panic, and must either fail with a non-retryable agents_bad_response or return a
// response without nil slices or maps.
func FuzzAnalyze_ResponseDecoder(f *testing.F) {
	f.Add([]byte(`{"result":{"house_types":["apartment"],"house_checklist":{"booleans":{"water_damage":false},
		"categoricals":{"overall_cleanliness":"Good"},"conditionals":{"balcony":{"exists":true,"condition":"Good","subitems":{"railing":"Average"}}}},
		"rooms":[{"room_id":"room-1","room_types":["kitchen"],"issues":{"booleans":{},"categoricals":{},"conditionals":{}},
		"products":{"booleans":{},"categoricals":{},"conditionals":{"fridge":{"exists":false,"condition":null,"subitems":null}}}}],
		"summary":{"house":["house:water_damage:true"],"rooms":[],"products":[],"custom":[]},"pros_cons":{"pros":["x"],"cons":[]}},
		"client_summary":{"house":{"booleans_true":[],"categoricals":{}},"rooms":{"room-1":{"booleans_true":[],"categoricals":{}}},
		"products":{},"pros_cons":{"pros":[],"cons":[]},"checklist_metadata":{"house":{"a":{"title":"","description":"","type":"","options":[]}},"rooms":{},"products":{}}},
		"cost_info":{"tokens":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"requests":{"total_requests":1,"avg_tokens_per_request":2.0},
		"models":{"gpt-4o-mini":2},"agents":{"house type":2},"agents_detailed":{"house type":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"requests":1}},
		"costs":{"total_estimated_usd":0.0001,"by_model":{"gpt-4o-mini":{"tokens":2,"estimated_cost_usd":0.0}},"pricing_note":""},
		"session":{"duration_seconds":1.0,"start_time":"2025-11-04T12:00:00","tokens_per_second":2.0}},
		"agent_executions":[],"metadata":{"request_id":"x","execution_time_seconds":1.0,"timestamp":"t","total_images":1,
		"rooms_processed":1,"pipeline_version":"2.0.0","total_agent_executions":0}}`))
	f.Add([]byte(`{"result":{"house_types":null,"rooms":[{"room_id":"room-1","room_types":null}]},"client_summary":{"rooms":{"room-1":{}}},"agent_executions":[null,1]}`))
	f.Add([]byte(`{"result":{},"client_summary":{},"cost_info":null}`))
	f.Add([]byte(`{"result":{"rooms":[{"room_id":"elsewhere"}]},"client_summary":{}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"result":{"house_checklist":{"conditionals":{"a":{"exists":"yes"}}}},"client_summary":{}}`))
	f.Add([]byte("\xff\xfe{"))

	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*body.Load())
	}))
	defer srv.Close()
	client := agents.New(srv.URL)
	client.MaxTries = 1
	req := analysis.Request{Rooms: []analysis.Room{{ID: "room-1", Images: []analysis.Image{{URL: "http://example.invalid/a.jpg"}}}}}

	f.Fuzz(func(t *testing.T, data []byte) {
		body.Store(&data)
		resp, err := client.Analyze(context.Background(), req, nil)
		if err != nil {
			var ae *analysis.Error
			if !errors.As(err, &ae) || ae.Code != agents.CodeBadResponse || ae.Retryable {
				t.Fatalf("error = %v, want a non-retryable agents_bad_response", err)
			}
			return
		}
		if path := findNil(reflect.ValueOf(resp).Elem(), "response"); path != "" {
			t.Fatalf("%s is nil after decoding %q", path, data)
		}
	})
}

// findNil returns the path of the first nil slice or map in v, other than the fields the
// contract allows to be null or absent.
func findNil(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Name == "Subitems" || f.Name == "NotAssessed" {
				continue
			}
			if p := findNil(v.Field(i), path+"."+f.Name); p != "" {
				return p
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return path
		}
		if v.Type() == reflect.TypeFor[json.RawMessage]() || v.Type().Elem() == reflect.TypeFor[json.RawMessage]() {
			return "" // raw JSON is passed through as the service sent it
		}
		for i := range v.Len() {
			if p := findNil(v.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if v.IsNil() {
			return path
		}
		for _, k := range v.MapKeys() {
			if p := findNil(v.MapIndex(k), path+"["+k.String()+"]"); p != "" {
				return p
			}
		}
	}
	return ""
}
