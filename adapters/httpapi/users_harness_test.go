package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/erasure"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
)

// accountsAPI is the HTTP API wired as cmd/scanledger wires it, on a real SQLite file:
// event store, scans read model kept up to date by its projection runner, photo store,
// and the accounts store.
type accountsAPI struct {
	t        *testing.T
	url      string
	accounts *accounts.Store
	scans    *scan.Handler
	db       *sqlite.DB
	tokens   *token.Issuer
	sealer   *audit.Sealer // seals with auditTestKey (audit_test.go)
	blobs    *blobfs.Store
}

// acctCheapHash keeps the tests quick; adapters/accounts tests the default parameters.
var acctCheapHash = accounts.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newAccountsAPI(t *testing.T, tuneAccounts ...func(*accounts.Store)) *accountsAPI {
	t.Helper()
	return newAccountsAPIWith(t, nil, tuneAccounts...)
}

// newSignedInAPI is newAccountsAPI with one user, ada@example.com, signed up.
func newSignedInAPI(t *testing.T) (*accountsAPI, authResponse) {
	t.Helper()
	api := newAccountsAPI(t)
	return api, api.signup("ada@example.com")
}

// newAccountsAPIWith is newAccountsAPI with tweak applied to the server's
// configuration, for the variants cmd/scanledger may wire.
func newAccountsAPIWith(t *testing.T, tweak func(*httpapi.Config), tuneAccounts ...func(*accounts.Store)) *accountsAPI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := sqliteEngine(t)
	accessTrail := audit.NewTrail(e.store)
	ts := httptest.NewUnstartedServer(nil)
	blobs := openBlobs(t, filepath.Join(t.TempDir(), "blobs"), ts)
	issuer := testIssuer()
	acc := newAccounts(e.write, e.read, issuer, tuneAccounts...)
	if err := acc.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	handler, done := startReadModel(ctx, e.store, e.write, e.read)
	cfg := apiConfig(handler, e.read, blobs, issuer, acc)
	cfg.Verifier = &audit.Verifier{Store: e.store, Public: auditTestKey.Public().(ed25519.PublicKey)}
	cfg.Exporter = &audit.Exporter{Store: e.store, Sealer: audit.NewSealer(e.store, auditTestKey), Key: auditTestKey}
	cfg.Trail, cfg.AccessTrail = accessTrail, accessTrail
	cfg.Eraser = &erasure.Eraser{Scans: handler, Blobs: blobs, Keys: handler.Cipher.Keys, Accounts: acc,
		Trail: accessTrail, Scrub: e.sqlite.Scrub}
	if tweak != nil {
		tweak(&cfg)
	}
	serve(t, ts, cfg, cancel, done)
	return &accountsAPI{t: t, url: ts.URL, accounts: acc, scans: handler, db: e.sqlite, tokens: issuer, blobs: blobs,
		sealer: audit.NewSealer(e.store, auditTestKey)}
}

// acctReply is one HTTP answer.
type acctReply struct {
	status int
	header http.Header
	body   []byte
}

func (a *accountsAPI) do(method, path, bearer, contentType string, body io.Reader, header ...string) acctReply {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+"/api/v1"+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return acctReply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *accountsAPI) json(method, path, bearer, body string) acctReply {
	a.t.Helper()
	return a.do(method, path, bearer, "application/json", strings.NewReader(body))
}

// want fails the test unless the acctReply has the status.
func (r acctReply) want(t *testing.T, status int) acctReply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// data decodes the {"data": ...} envelope into v.
func (r acctReply) data(t *testing.T, v any) {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("not JSON: %s", r.body)
	}
	d, found := env["data"]
	if !found || len(env) != 1 {
		t.Fatalf("no data envelope: %s", r.body)
	}
	if err := json.Unmarshal(d, v); err != nil {
		t.Fatalf("decode %s: %v", d, err)
	}
}

// acctError is the contract's error shape; Message is a string or a list.
type acctError struct {
	StatusCode int    `json:"statusCode"`
	Message    any    `json:"message"`
	Error      string `json:"error"`
	Path       string `json:"path"`
	Method     string `json:"method"`
}

func (r acctReply) problem(t *testing.T) acctError {
	t.Helper()
	var e acctError
	if err := json.Unmarshal(r.body, &e); err != nil || e.StatusCode != r.status {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return e
}

// messages is a 400's message list.
func (r acctReply) messages(t *testing.T) []string {
	t.Helper()
	e := r.problem(t)
	list, isList := e.Message.([]any)
	if !isList || e.Error != "Bad Request" {
		t.Fatalf("a 400 lists its messages: %s", r.body)
	}
	out := make([]string, len(list))
	for i, m := range list {
		out[i], _ = m.(string)
	}
	return out
}

func (r acctReply) message(t *testing.T) string {
	t.Helper()
	m, isString := r.problem(t).Message.(string)
	if !isString {
		t.Fatalf("message is not a string: %s", r.body)
	}
	return m
}

func hasMessage(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isoMillis is how JSON.stringify writes a date.
var isoMillis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// authResponse is AuthResponse as the PWA reads it.
type authResponse struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	User         struct {
		ID        string `json:"id"`
		Email     string `json:"email"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		Role      string `json:"role"`
		CreatedAt string `json:"createdAt"`
		UpdatedAt string `json:"updatedAt"`
	} `json:"user"`
}

func (a *accountsAPI) signup(email string) authResponse {
	a.t.Helper()
	var out authResponse
	a.json("POST", "/auth/signup", "", `{"email":"`+email+`","password":"secret1","firstName":"Ada","lastName":"Lovelace"}`).
		want(a.t, http.StatusCreated).data(a.t, &out)
	return out
}

// createScan makes a scan with one real photo uploaded, and returns its id.
func (a *accountsAPI) createScan(bearer string) string {
	a.t.Helper()
	id := a.newScan(bearer, "1 Test Street")
	body, contentType := photoForm(a.t, "room1-1.jpeg", `[{"imageIndices":["0"]}]`)
	a.do("POST", "/scans/"+id+"/images", bearer, contentType, body).want(a.t, http.StatusCreated)
	return id
}

// newScan creates a scan at address, with no photos yet, and returns its id.
func (a *accountsAPI) newScan(bearer, address string) string {
	a.t.Helper()
	var created struct{ ScanID string }
	a.json("POST", "/scans", bearer, `{"address":"`+address+`"}`).want(a.t, http.StatusCreated).data(a.t, &created)
	return created.ScanID
}

// photoForm is an upload body whose one "images" part is the shared photo name, with
// a "rooms" field unless rooms is empty. It returns the body and its content type.
func photoForm(t *testing.T, name, rooms string) (*bytes.Buffer, string) {
	t.Helper()
	photo, err := os.ReadFile(sharedPhoto(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("images", name)
	w.Write(photo)
	if rooms != "" {
		mw.WriteField("rooms", rooms)
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// sharedPhoto finds a photo in ../shared/data/photos beside the repository root.
func sharedPhoto(t *testing.T, name string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "data", "photos", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// eventually retries f until it returns true or the deadline passes.
func acctEventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newAccounts returns an accounts store with cheap password hashes, after tune (if any)
// changed its fields.
func newAccounts(write, read projections.DB, tokens accounts.Tokens, tune ...func(*accounts.Store)) *accounts.Store {
	acc := accounts.New(write, read, tokens)
	acc.HashParams = acctCheapHash
	for _, f := range tune {
		f(acc)
	}
	return acc
}
