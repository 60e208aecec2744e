package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/relay"
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

// secretEnv passes the token secret from the load process to the server, so that the
// clients can mint tokens the server accepts (and the secret stays out of ps).
const secretEnv = "LOADGEN_SECRET"

// The issuer and audience both processes use.
const (
	tokenIssuer   = "scanledger"
	tokenAudience = "scanledger-users"
)

func newIssuer(secret []byte) *token.Issuer {
	return &token.Issuer{Secret: secret, Issuer: tokenIssuer, Audience: tokenAudience, AccessTTL: 24 * time.Hour}
}

// runServe is the server process: the pipeline cmd/scanledger wires in embedded mode
// (SQLite store, the readmodel projection group, the hub, SSE and WebSocket through the
// real HTTP API), plus /loadgen/ endpoints to append load and read memory figures. It
// stops when its stdin closes, so it never outlives the load process.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	dir := fs.String("dir", "", "data directory (default: a new temporary one, removed on exit)")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "heartbeat interval on live connections")
	queue := fs.Int("queue", 0, "hub queue per subscription (0: the hub's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := []byte(os.Getenv(secretEnv))
	if len(secret) < 16 {
		return fmt.Errorf("serve: %s must hold a secret of at least 16 bytes", secretEnv)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "loadgen-")
		if err != nil {
			return fmt.Errorf("serve: data dir: %w", err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := sqlite.Open(ctx, filepath.Join(*dir, "loadgen.db"), migrations.EventStore, migrations.ReadModel)
	if err != nil {
		return err
	}
	defer db.Close()
	store := sqlite.NewStore(db)
	write := projections.DB{DB: db.Write, Dialect: projections.SQLite}
	read := projections.DB{DB: db.Read, Dialect: projections.SQLite}
	hub := relay.NewHub(relay.TableFeed{DB: read}, relay.HubOptions{Queue: *queue, Logger: log})
	handler := scan.NewHandler(store)
	handler.Cipher = &personal.Cipher{Keys: &accounts.Keys{Write: write, Read: read}}
	sp := scans.NewProjector()
	sp.Cipher = handler.Cipher
	runner := projections.NewRunner(store, write, projections.NewGroup("readmodel", sp, feed.NewProjector()),
		projections.Options{Logger: log, OnCommit: func(string, event.Recorded) { hub.Wake() }})
	bg := make(chan error, 2)
	go func() { bg <- runner.Run(ctx) }()
	go func() { bg <- hub.Run(ctx) }()

	sse := relay.NewSSE(hub, *heartbeat)
	ctl := &control{hub: hub, scans: handler, read: read, log: log}
	api := httpapi.New(httpapi.Config{
		Tokens: newIssuer(secret),
		SSE:    sse,
		Logger: log,
		Mounts: map[string]http.Handler{"/loadgen/": ctl.routes()},
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "loadgen server listening on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err = <-served:
	case err = <-bg:
	}
	cancel()
	sse.Close()
	sctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(sctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// control serves the load process's requests to the server process.
type control struct {
	hub   *relay.Hub
	scans *scan.Handler
	read  projections.DB
	log   *slog.Logger
}

func (c *control) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /loadgen/stats", c.stats)
	mux.HandleFunc("POST /loadgen/append", c.append)
	// Where the memory goes: go tool pprof -sample_index=inuse_space <url>/loadgen/heap
	mux.Handle("GET /loadgen/heap", pprof.Handler("heap"))
	mux.Handle("GET /loadgen/goroutine", pprof.Handler("goroutine"))
	return mux
}

// serverStats are the server's figures at one moment.
type serverStats struct {
	HeapInuse   uint64  `json:"heapInuse"`
	StackInuse  uint64  `json:"stackInuse"`
	Sys         uint64  `json:"sys"`
	Goroutines  int     `json:"goroutines"`
	Subscribers int     `json:"subscribers"`
	NumGC       uint32  `json:"numGC"`
	PauseTotal  uint64  `json:"pauseTotalNs"`
	GCCPU       float64 `json:"gcCPUFraction"`
}

// stats collects garbage first, so that the figures are what connections hold, not
// what the collector has not reached yet. Several cycles, because each one shrinks
// oversized goroutine stacks by half at most, as a long-running server's would be.
func (c *control) stats(w http.ResponseWriter, r *http.Request) {
	for range 4 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	writeJSON(w, serverStats{HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys,
		Goroutines: runtime.NumGoroutine(), Subscribers: c.hub.Subscribers(),
		NumGC: m.NumGC, PauseTotal: m.PauseTotalNs, GCCPU: m.GCCPUFraction})
}

func (c *control) append(w http.ResponseWriter, r *http.Request) {
	var p appendPlan
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, "bad plan: "+err.Error(), http.StatusBadRequest)
		return
	}
	res, err := appendLoad(r.Context(), c.scans, p)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Delivery is measured against what the projection wrote, so wait for it to have
	// written every row appended.
	deadline := time.Now().Add(time.Minute)
	for _, u := range p.Users {
		for {
			latest, err := feed.LatestSeq(r.Context(), c.read, u)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if latest >= res.Rows[u] || time.Now().After(deadline) {
				res.Latest = append(res.Latest, latest)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	writeJSON(w, res)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
