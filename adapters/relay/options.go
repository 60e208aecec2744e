package relay

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/scanledger/scanledger/domain/auth"
)

// Defaults of the transports' settings.
const (
	// DefaultHeartbeat is how often an idle connection is pinged (SSE comment frames,
	// WebSocket pings, Engine.IO pings), so proxies and load balancers do not cut it
	// and dead peers are noticed.
	DefaultHeartbeat = 15 * time.Second
	// DefaultWriteTimeout bounds each write to a client: a client that stops reading
	// is disconnected after it, instead of holding its messages forever.
	DefaultWriteTimeout = 10 * time.Second
)

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Admit decides whether the holder of a verified token may open one more live
// connection, r being the request that opened it: it refuses a deleted or revoked user,
// or one over a connection cap, with a domain error whose message the client is shown.
// On success, release is called once when the connection ends.
type Admit func(ctx context.Context, cl auth.Claims, r *http.Request) (release func(), err error)
