package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/adapters/httpapi"
)

// One origin rule for every transport: an origin the operator configured is answered as
// allowed by REST CORS, SSE, WebSocket and Socket.IO alike, or refused by all of them.
// The configured origin has a trailing "/", as operators copy it from an address bar.
func TestEveryTransportAnswersAnOriginAlike(t *testing.T) {
	api := newHardenedAPI(t, "", func(c *httpapi.Config) { c.CORSOrigins = []string{"https://app.x/"} })
	tok := api.signup("origins@example.com").AccessToken

	transports := map[string]func(origin string) (served, echoed bool){
		"REST": func(origin string) (bool, bool) {
			req, _ := http.NewRequest(http.MethodOptions, api.url+"/api/v1/scans", nil)
			req.Header.Set("Access-Control-Request-Method", "POST")
			return answer(t, req, origin)
		},
		"SSE": func(origin string) (bool, bool) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.url+"/api/v1/events", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			return answer(t, req, origin)
		},
		"WebSocket": func(origin string) (bool, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(api.url, "http")+"/api/v1/ws?token="+tok,
				&websocket.DialOptions{HTTPHeader: h})
			if err != nil {
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("WebSocket from %q: %v", origin, err)
				}
				return false, false
			}
			c.CloseNow()
			return true, false // no CORS on WebSockets: refusing is the answer
		},
		"Socket.IO": func(origin string) (bool, bool) {
			req, _ := http.NewRequest(http.MethodGet, api.url+"/socket.io/?EIO=4&transport=polling", nil)
			return answer(t, req, origin)
		},
	}
	for _, c := range []struct {
		origin string
		want   bool // answered as an allowed site
	}{
		{"https://app.x", true},
		{"https://App.X", true},
		{"https://app.x:443", true},
		{"https://app.x:8443", false},
		{"http://app.x", false},
		{"https://evil.x", false},
		{"null", false},
		{"", false}, // no browser page: served on every transport, with no CORS headers
	} {
		for name, ask := range transports {
			served, echoed := ask(c.origin)
			var allowed bool
			switch name {
			case "WebSocket":
				allowed = served && c.origin != ""
			case "Socket.IO":
				allowed = served && echoed
			default:
				allowed = echoed
			}
			if allowed != c.want {
				t.Errorf("%s from %q: allowed %v, want %v", name, c.origin, allowed, c.want)
			}
			// Refusing transports refuse exactly what is not allowed; the empty Origin is
			// never refused.
			if (name == "WebSocket" || name == "Socket.IO") && served != (c.want || c.origin == "") {
				t.Errorf("%s from %q: served %v", name, c.origin, served)
			}
		}
	}
}

// answer sends req with the Origin header (none when "") and reports whether it was
// served (not 403) and whether the origin was echoed as allowed, with credentials.
func answer(t *testing.T, req *http.Request, origin string) (served, echoed bool) {
	t.Helper()
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s from %q: %v", req.Method, req.URL.Path, origin, err)
	}
	defer resp.Body.Close()
	got := resp.Header.Get("Access-Control-Allow-Origin")
	if got != "" && resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("%s %s from %q: CORS without credentials", req.Method, req.URL.Path, origin)
	}
	return resp.StatusCode != http.StatusForbidden, origin != "" && got == origin
}
