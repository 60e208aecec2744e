package relay_test

import (
	"net/http"
	"testing"

	"github.com/scanledger/scanledger/domain"
)

// An SSE or WebSocket stream outlives the request that opened it (the transport takes
// the connection over), and it keeps its place under the live-connection caps until it
// ends: a user at the cap is refused another stream, and gets one once a stream ends.
func TestEveryTransport_AnOpenStreamCountsTowardTheConnectionCapUntilItEnds(t *testing.T) {
	e := newEnv(t, envConfig{livePerIP: 1})
	for _, first := range []string{"sse", "websocket"} {
		t.Run(first, func(t *testing.T) {
			user := domain.NewID()
			var open *conn
			var err error
			if first == "sse" {
				open, err = dialSSE(e, sseDial{token: e.token(user)})
			} else {
				open, _, err = dialWS(e, wsDial{token: e.token(user)})
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dialSSE(e, sseDial{token: e.token(user)}); statusOf(t, err) != http.StatusTooManyRequests {
				t.Errorf("a second SSE stream at the cap: %v, want 429", err)
			}
			if _, _, err := dialWS(e, wsDial{token: e.token(user)}); statusOf(t, err) != http.StatusTooManyRequests {
				t.Errorf("a WebSocket stream at the cap: %v, want 429", err)
			}
			open.cancel()
			var again *conn
			eventually(t, guard, "a stream to be accepted once the first ended", func() bool {
				again, _, err = dialWS(e, wsDial{token: e.token(user)})
				return err == nil
			})
			again.cancel()
			eventually(t, guard, "the stream to end", func() bool { return e.hub.Subscribers() == 0 })
		})
	}
}
