package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/scans"
)

// engine is an event store and its read model on one database engine.
type engine struct {
	store       event.Store
	write, read projections.DB
	sqlite      *sqlite.DB // nil on PostgreSQL
}

// sqliteEngine opens a fresh SQLite file, closed when the test ends.
func sqliteEngine(t testing.TB) engine {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "scanledger.db"), migrations.EventStore, migrations.ReadModel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return engine{store: sqlite.NewStore(db), sqlite: db,
		write: projections.DB{DB: db.Write, Dialect: projections.SQLite}, read: projections.DB{DB: db.Read, Dialect: projections.SQLite}}
}

// postgresEngine opens a fresh PostgreSQL database; the store and then the database
// close when the test ends.
func postgresEngine(t testing.TB) engine {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.OpenDB(ctx, pgtest.New(t, "scanledger_httpapi"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx, migrations.EventStore, migrations.ReadModel); err != nil {
		t.Fatal(err)
	}
	pg := postgres.NewStore(db)
	t.Cleanup(pg.Close)
	pdb := projections.DB{DB: db.SQL(), Dialect: projections.Postgres}
	return engine{store: pg, write: pdb, read: pdb}
}

// startReadModel composes what every API harness runs behind the routes, as cmd does:
// the scan handler over store, encrypting personal fields with the users' keys, and the
// read-model projections (scans with the same cipher, feed) kept up by a runner until
// ctx ends. done is closed once the runner has stopped.
func startReadModel(ctx context.Context, store event.Store, write, read projections.DB) (*scan.Handler, <-chan struct{}) {
	handler := scan.NewHandler(store)
	handler.Cipher = &personal.Cipher{Keys: &accounts.Keys{Write: write, Read: read}}
	sp := scans.NewProjector()
	sp.Cipher = handler.Cipher
	runner := projections.NewRunner(store, write, projections.NewGroup("readmodel", sp, feed.NewProjector()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = runner.Run(ctx)
	}()
	return handler, done
}

// testIssuer is the token issuer every harness signs with.
func testIssuer() *token.Issuer {
	return &token.Issuer{Secret: []byte("jwt-secret-0123456789abcdef"), Issuer: "scanledger", Audience: "scanledger-users"}
}

// openBlobs opens the embedded blob store in dir, signing URLs for ts (not started yet),
// where the harness mounts its handler at /blobs/.
func openBlobs(t testing.TB, dir string, ts *httptest.Server) *blobfs.Store {
	t.Helper()
	blobs, err := blobfs.New(dir, []byte("blob-secret-0123456789abcdef0123"), "http://"+ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return blobs
}

// serve starts ts on the API cfg configures. When the test ends the server closes
// first, then the read model's runner stops (cancel, and done closed); what the
// harness opened before (photos, the database) closes after.
func serve(t testing.TB, ts *httptest.Server, cfg httpapi.Config, cancel context.CancelFunc, done <-chan struct{}) *httpapi.Server {
	api := httpapi.New(cfg)
	ts.Config.Handler = api.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
	})
	return api
}

// apiConfig is the configuration every harness starts from: the scan routes over handler
// and the read model, the blob store mounted at /blobs/, tokens, and the accounts store
// for users and checklists.
func apiConfig(handler *scan.Handler, read projections.DB, blobs *blobfs.Store, issuer *token.Issuer, acc *accounts.Store) httpapi.Config {
	return httpapi.Config{
		Scans:          handler,
		Reader:         scans.Reader{DB: read},
		Blobs:          blobs,
		Tokens:         issuer,
		Checklists:     acc,
		Accounts:       acc,
		ChecklistStore: acc,
		Mounts:         map[string]http.Handler{"/blobs/": blobs.Handler()},
	}
}
