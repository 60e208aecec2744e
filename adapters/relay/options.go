package relay

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/scanledger/scanledger/domain/auth"
)

// Option tunes a transport (NewSSE, NewWebSocket, NewSocketIO).
type Option func(*options)

type options struct {
	heartbeat    time.Duration
	writeTimeout time.Duration
	origins      []string
	log          *slog.Logger
	sessions     Sessions
	admit        Admit
}

func newOptions(opts []Option) options {
	o := options{heartbeat: 15 * time.Second, writeTimeout: 10 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithHeartbeat sets how often an idle connection is pinged (SSE comment frames,
// WebSocket pings, Engine.IO pings), so proxies and load balancers do not cut it and
// dead peers are noticed. Default 15 s; zero or less keeps the default.
func WithHeartbeat(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.heartbeat = d
		}
	}
}

// WithWriteTimeout bounds each write to a client (SSE, WebSocket): a client that stops
// reading is disconnected after it, instead of holding a goroutine and its messages
// forever. Default 10 s; zero or less keeps the default.
func WithWriteTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.writeTimeout = d
		}
	}
}

// WithOrigins sets the browser origins allowed to open WebSocket and Socket.IO
// connections from another site, as full origins ("https://app.example.com", the
// form of the API's CORS list); "*" allows any. The server's own host is always
// allowed. Default: none. Browsers apply no CORS to WebSockets: this check is what
// keeps other sites' pages from opening them.
func WithOrigins(origins []string) Option {
	return func(o *options) { o.origins = append([]string(nil), origins...) }
}

// WithLogger sets where connection problems are logged. Default: discarded.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithSessions lets a reconnecting Socket.IO client present an expired access token
// while the login session it names is alive (see NewSocketIO). Other transports ignore
// it: their clients see the 401 and can refresh before they retry. Default: none, every
// expired token is refused.
func WithSessions(s Sessions) Option {
	return func(o *options) { o.sessions = s }
}

// Admit decides whether the holder of a verified token may open one more live
// connection, r being the request that opened it: it refuses a deleted or revoked user,
// or one over a connection cap, with a domain error whose message the client is shown.
// On success, release is called once when the connection ends.
type Admit func(ctx context.Context, cl auth.Claims, r *http.Request) (release func(), err error)

// WithAdmission makes Socket.IO consult admit for every connection whose token verified,
// so the same revocation check and connection caps apply as on the API's SSE and
// WebSocket routes (which consult theirs before they hand over). Default: none.
func WithAdmission(admit Admit) Option {
	return func(o *options) { o.admit = admit }
}
