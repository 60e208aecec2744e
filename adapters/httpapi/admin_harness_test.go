package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/trail"
	"github.com/scanledger/scanledger/domain/worker"
	"github.com/scanledger/scanledger/projections"
)

// recorder is a trail.Recorder that keeps entries in memory, or refuses them.
type recorder struct {
	mu      sync.Mutex
	entries []trail.Entry
	fail    bool
}

func (r *recorder) Record(_ context.Context, e trail.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("trail unavailable")
	}
	r.entries = append(r.entries, e)
	return nil
}

func (r *recorder) failing(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = v
}

// find returns the entries with action.
func (r *recorder) find(action string) []trail.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []trail.Entry
	for _, e := range r.entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// consoleAPI is the HTTP API wired as cmd/scanledger wires it, on one engine: event
// store, read model kept by its projection runner, photos, accounts with the console,
// and a recording access trail.
type consoleAPI struct {
	*accountsAPI
	read  projections.DB
	trail *recorder
}

// forEachEngine runs f against the API on SQLite and on PostgreSQL.
func forEachEngine(t *testing.T, f func(t *testing.T, api *consoleAPI)) {
	t.Helper()
	for _, engine := range []struct {
		name string
		open func(testing.TB) engine
	}{{"sqlite", sqliteEngine}, {"postgres", postgresEngine}} {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			f(t, newConsoleAPI(t, engine.open(t)))
		})
	}
}

func newConsoleAPI(t *testing.T, e engine) *consoleAPI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ts := httptest.NewUnstartedServer(nil)
	blobs := openBlobs(t, filepath.Join(t.TempDir(), "blobs"), ts)
	rec := &recorder{}
	issuer := testIssuer()
	acc := newAccounts(e.write, e.read, issuer)
	acc.Trail = rec
	if err := acc.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	handler, done := startReadModel(ctx, e.store, e.write, e.read)
	cfg := apiConfig(handler, e.read, blobs, issuer, acc)
	cfg.Console, cfg.Trail = acc, rec
	serve(t, ts, cfg, cancel, done)
	return &consoleAPI{accountsAPI: &accountsAPI{t: t, url: ts.URL, accounts: acc, scans: handler, tokens: issuer}, read: e.read, trail: rec}
}

// user signs up a user with role and returns their access token and id. The token says
// "user" whatever the role: the stored role is what counts.
func (a *consoleAPI) user(email, role string) (string, string) {
	a.t.Helper()
	s := a.signup(email)
	if role != auth.RoleUser {
		if err := a.accounts.SetRole(context.Background(), email, role); err != nil {
			a.t.Fatal(err)
		}
	}
	return s.AccessToken, s.User.ID
}

// completeScan uploads a photo to a new scan of bearer's, starts processing, and
// completes the attempt with an analyzer answer that reports tokens but no cost, its
// runs started at started, priced as the worker prices them.
func (a *consoleAPI) completeScan(bearer string, started time.Time) string {
	a.t.Helper()
	id := a.createScan(bearer)
	a.json("POST", "/scans/"+id+"/process", bearer, `{}`).want(a.t, http.StatusCreated)
	resp := &analysis.Response{CostInfo: analysis.CostInfo{
		Tokens: analysis.Tokens{PromptTokens: 1200, CompletionTokens: 300, TotalTokens: 1500},
		Models: map[string]int{"gpt-4o-mini": 1500},
		AgentsDetailed: map[string]analysis.AgentUsage{
			"house type":         {PromptTokens: 200, CompletionTokens: 50, TotalTokens: 250, Requests: 1},
			"pros/cons analysis": {PromptTokens: 1000, CompletionTokens: 250, TotalTokens: 1250, Requests: 1},
		},
	}, Metadata: analysis.Metadata{PipelineVersion: "2.0.0"}}
	ctx := context.Background()
	done, err := worker.Completed(ctx, resp, 1, started, started.Add(time.Minute), a.accounts)
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.scans.Execute(ctx, id, scan.Meta{CorrelationID: "test"}, func(s *scan.Scan) error {
		return s.Complete(done)
	}); err != nil {
		a.t.Fatal(err)
	}
	// The read model catches up on its own time: until it has the scan, the scan is
	// not found; any other status is a real failure.
	acctEventually(a.t, "the scan succeeds in the read model", func() bool {
		r := a.json("GET", "/scans/"+id, bearer, "")
		if r.status == http.StatusNotFound {
			return false
		}
		var sc struct{ Status string }
		r.want(a.t, http.StatusOK).data(a.t, &sc)
		return sc.Status == "succeeded"
	})
	return id
}

// list decodes a page of rows and returns them with the next-page cursor.
func (r acctReply) list(t *testing.T) ([]json.RawMessage, string) {
	t.Helper()
	var rows []json.RawMessage
	r.data(t, &rows)
	if rows == nil {
		t.Fatalf("a list is an array, never null: %s", r.body)
	}
	return rows, r.header.Get("X-Next-Cursor")
}

// keys returns an object's keys in the order they appear.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// startsWith fails unless raw's keys begin with want, in that order: the original's
// fields first, ours after.
func startsWith(t *testing.T, what string, raw json.RawMessage, want ...string) {
	t.Helper()
	got := keys(t, raw)
	if len(got) < len(want) {
		t.Fatalf("%s: keys %v, want %v first", what, got, want)
	}
	for i, k := range want {
		if got[i] != k {
			t.Fatalf("%s: keys %v, want %v first", what, got, want)
		}
	}
}
