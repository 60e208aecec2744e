package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
)

// lockedBuffer collects the server's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hardened is the API as cmd/scanledger wires it, with photos in blobDir (empty: a
// temporary directory), configured by tune, and its logs kept.
type hardened struct {
	*accountsAPI
	logs   *lockedBuffer
	server *httptest.Server
	api    *httpapi.Server
}

func newHardenedAPI(t testing.TB, blobDir string, tune func(*httpapi.Config), tuneAccounts ...func(*accounts.Store)) *hardened {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	if blobDir == "" {
		blobDir = filepath.Join(dir, "blobs")
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "scanledger.db"), migrations.EventStore, migrations.ReadModel)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlite.NewStore(db)
	write := projections.DB{DB: db.Write, Dialect: projections.SQLite}
	read := projections.DB{DB: db.Read, Dialect: projections.SQLite}
	ts := httptest.NewUnstartedServer(nil)
	blobs := openBlobs(t, blobDir, ts)
	issuer := testIssuer()
	acc := newAccounts(write, read, issuer, tuneAccounts...)
	if err := acc.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	handler, done := startReadModel(ctx, store, write, read)
	hub := &relay.Hub{Feed: relay.TableFeed{DB: read}}
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		_ = hub.Run(ctx)
	}()
	logs := &lockedBuffer{}
	cfg := apiConfig(handler, read, blobs, issuer, acc)
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
	api := httpapi.New(cfg)
	ts.Config.Handler = api.Handler()
	ts.Start()
	t.Cleanup(func() {
		sio.Close()
		ts.Close()
		cancel()
		<-done
		<-hubDone
		blobs.Close()
		db.Close()
	})
	tt, _ := t.(*testing.T) // the accountsAPI helpers are for tests; fuzz targets call the server directly
	return &hardened{
		accountsAPI: &accountsAPI{t: tt, url: ts.URL, accounts: acc, scans: handler, db: db, tokens: issuer},
		logs:        logs,
		server:      ts,
		api:         api,
	}
}
