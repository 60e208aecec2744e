package httpapi_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/internal/logtest"
)

// hardened is the API as cmd/scanledger wires it, with photos in blobDir (empty: a
// temporary directory), configured by tune, and its logs kept.
type hardened struct {
	*accountsAPI
	logs   *logtest.Buffer
	server *httptest.Server
	api    *httpapi.Server
}

func newHardenedAPI(t testing.TB, blobDir string, tune func(*httpapi.Config), tuneAccounts ...func(*accounts.Store)) *hardened {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if blobDir == "" {
		blobDir = filepath.Join(t.TempDir(), "blobs")
	}
	e := sqliteEngine(t)
	ts := httptest.NewUnstartedServer(nil)
	blobs := openBlobs(t, blobDir, ts)
	issuer := testIssuer()
	acc := newAccounts(e.write, e.read, issuer, tuneAccounts...)
	if err := acc.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	handler, done := startReadModel(ctx, e.store, e.write, e.read)
	hub := &relay.Hub{Feed: relay.TableFeed{DB: e.read}}
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		_ = hub.Run(ctx)
	}()
	// Cancelling here too, not only in serve's cleanup, so that a failure before serve
	// registers it still ends the hub instead of hanging the test.
	t.Cleanup(func() { cancel(); <-hubDone })
	logs := &logtest.Buffer{}
	cfg := apiConfig(handler, e.read, blobs, issuer, acc)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.SSE = &relay.SSE{Hub: hub, Heartbeat: time.Second}
	if tune != nil {
		tune(&cfg)
	}
	// As cmd composes them: every live transport on the one hub, with the API's origins.
	cfg.WebSocket = &relay.WebSocket{Hub: hub, Heartbeat: time.Second, Origins: cfg.CORSOrigins}
	sio := &relay.SocketIO{Hub: hub, Tokens: issuer, PIDKey: []byte("socketio-pid-key-0123456789"),
		Heartbeat: time.Second, Origins: cfg.CORSOrigins}
	cfg.Mounts["/socket.io/"] = sio
	api := serve(t, ts, cfg, cancel, done)
	t.Cleanup(sio.Close)    // before the server closes
	tt, _ := t.(*testing.T) // the accountsAPI helpers are for tests; fuzz targets call the server directly
	return &hardened{
		accountsAPI: &accountsAPI{t: tt, url: ts.URL, accounts: acc, scans: handler, db: e.sqlite, tokens: issuer},
		logs:        logs,
		server:      ts,
		api:         api,
	}
}
