// Package origin is the one rule for which browser origins may use scanledger from
// another site: REST CORS, SSE, WebSocket and Socket.IO all ask the same Policy, so an
// origin the operator configured works on every transport or on none.
package origin

import "strings"

// Policy holds the allowed origins. The zero Policy allows no foreign origin.
type Policy struct {
	any     bool
	allowed map[string]bool
}

// New returns the policy for the configured origins: full origins
// ("https://app.example.com") or "*" for any. A configured origin is compared as a
// browser serialises one (RFC 6454): without a trailing "/" or path, scheme and host in
// any case, the scheme's default port left out.
func New(configured []string) Policy {
	p := Policy{allowed: map[string]bool{}}
	for _, o := range configured {
		if strings.TrimSpace(o) == "*" {
			p.any = true
			continue
		}
		if o = normalize(o); o != "" {
			p.allowed[o] = true
		}
	}
	return p
}

// Allows reports whether a request with this Origin header may be answered as from an
// allowed site. An empty Origin is no browser's cross-site request and is not allowed
// here (callers serve it without CORS headers); "null", the origin of sandboxed and
// file documents, is allowed only by "*".
func (p Policy) Allows(origin string) bool {
	if origin == "" {
		return false
	}
	return p.any || p.allowed[normalize(origin)]
}

// AllowsConnection is Allows for a transport that refuses what it does not allow
// (WebSocket, Socket.IO): a request without an Origin (not from a browser page) or from
// a page of the host it connects to is allowed too.
func (p Policy) AllowsConnection(origin, host string) bool {
	if origin == "" {
		return true
	}
	if o := normalize(origin); strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://") {
		_, h, _ := strings.Cut(o, "://")
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return p.Allows(origin)
}

func normalize(o string) string {
	o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
	switch {
	case strings.HasPrefix(o, "https://"):
		o = strings.TrimSuffix(o, ":443")
	case strings.HasPrefix(o, "http://"):
		o = strings.TrimSuffix(o, ":80")
	}
	return o
}
