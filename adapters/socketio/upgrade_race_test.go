package socketio_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/adapters/socketio"
	"github.com/scanledger/scanledger/internal/await"
)

// The relay drops the socket after the client probed the WebSocket but before its
// upgrade packet "5" attached it: the session is closing with events still queued and
// no transport that will poll them. The WebSocket then takes over anyway, delivers
// them and closes with a close frame, so the client sees a transport close and
// reconnects at once; the session does not linger until PingTimeout.
func TestARelayDropDuringTheUpgradeIsDeliveredOnTheWebSocketAndClosedCleanly(t *testing.T) {
	rl := newRelay(8)
	srv, ts := startServer(t, rl, &socketio.Server{PingInterval: time.Minute, PingTimeout: time.Minute})
	sid := connectPolling(t, ts, "good-A")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := probeUpgrade(t, ctx, ts, sid)

	sent := publishAll(rl, "A", scanEvents("s1")[:3])
	rl.dropAll("A")
	// The socket ends once its pump has queued the events and seen the drop.
	await.Until(t, 5*time.Second, "the socket to end after the drop", func() bool { return srv.Stats().Sockets == 0 })

	upgradeDelivers(t, ctx, conn, sent, ": the events queued before the drop are lost")
	if _, err := readText(ctx, conn); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the events: %v, want a normal close frame", err)
	}
	await.Until(t, 5*time.Second, "the session to end (PingTimeout is a minute)", func() bool { return srv.Stats().Sessions == 0 })
}
