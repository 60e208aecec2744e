package agentstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Behaviour is what the fake does with one valid call. Build them with the functions
// below; combine them with Delay and Hold, and sequence them with NewServer's script or
// SetBehaviours.
type Behaviour struct {
	serve func(x *exchange)
}

// Succeed runs the fake pipeline: it fetches the images, checks the checklist items and
// answers 200 with a full section 5.4 response built from the request. It "detects" the
// first house type in sorted order and gives the i-th analysed room the i-th room type
// (sorted, wrapping), so results are repeatable; answers depend only on item ids.
func Succeed() Behaviour {
	return Behaviour{serve: runPipeline}
}

// Detail answers status with FastAPI's error body {"detail": detail}. detail is a string
// for 400 and 500 and a list of pydantic errors ([]ValidationError) for 422.
func Detail(status int, detail any) Behaviour {
	return Behaviour{serve: func(x *exchange) { x.detail(status, detail) }}
}

// InternalError answers 500 the way the route's catch-all does:
// {"detail":"Internal server error: <msg>"}.
func InternalError(msg string) Behaviour {
	return Detail(http.StatusInternalServerError, "Internal server error: "+msg)
}

// RateLimited answers 429 with the given Retry-After header value (seconds or an HTTP
// date; "" sends none), as a proxy in front of the service would.
func RateLimited(retryAfter string) Behaviour {
	return Behaviour{serve: func(x *exchange) {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		x.replyJSON(http.StatusTooManyRequests, h, map[string]any{"detail": "Too Many Requests"})
	}}
}

// Raw answers exactly status, contentType and body, for responses the real service
// would never send (an HTML error page from a proxy, a truncated JSON document).
func Raw(status int, contentType, body string) Behaviour {
	return Behaviour{serve: func(x *exchange) {
		h := http.Header{}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		x.reply(status, h, []byte(body))
	}}
}

// Delay waits d, then behaves as then. The wait ends early when the client goes away,
// as the real service's work would be of no use to anyone then.
func Delay(d time.Duration, then Behaviour) Behaviour {
	return Behaviour{serve: func(x *exchange) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-x.r.Context().Done():
			return
		case <-x.s.closing:
			return
		}
		then.serve(x)
	}}
}

// Hold waits until release is closed, then behaves as then, so a test decides exactly
// when a slow call ends. It stops waiting when the client goes away.
func Hold(release <-chan struct{}, then Behaviour) Behaviour {
	return Behaviour{serve: func(x *exchange) {
		select {
		case <-release:
		case <-x.r.Context().Done():
			return
		case <-x.s.closing:
			return
		}
		then.serve(x)
	}}
}

// Drop closes the connection without answering, as a crashed service or a proxy reset
// would.
func Drop() Behaviour {
	return Behaviour{serve: func(x *exchange) {
		if conn, _, err := http.NewResponseController(x.w).Hijack(); err == nil {
			_ = conn.Close()
		}
	}}
}

// Truncate starts a 200 answer with a Content-Length for a whole success body, sends
// only the first half and closes the connection: the client sees EOF mid-response.
func Truncate() Behaviour {
	return Behaviour{serve: func(x *exchange) {
		full := []byte(`{"result":{"house_types":[],"house_checklist":{"booleans":{},"categoricals":{},"conditionals":{}},"rooms":[]}}`)
		conn, buf, err := http.NewResponseController(x.w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		half := full[:len(full)/2]
		var head bytes.Buffer
		fmt.Fprintf(&head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(full))
		_, _ = buf.Write(head.Bytes())
		_, _ = buf.Write(half)
		_ = buf.Flush()
		x.s.mu.Lock()
		x.call.Answer = half
		x.s.mu.Unlock()
	}}
}

// ValidationError is one entry of FastAPI's 422 body (pydantic v2 error format).
type ValidationError struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
	URL   string         `json:"url,omitempty"`
}

// marshal encodes like Python's json.dumps: no HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
