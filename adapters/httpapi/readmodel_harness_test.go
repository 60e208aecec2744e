package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/scans"
)

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
	return blobs
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
