package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/feed"
)

// runLoadgen is `scanledger loadgen`: it measures the live relay under load, many
// concurrent SSE, WebSocket and Socket.IO connections and a steady rate of scan events appended
// through the real pipeline. It runs as two processes so that the server's memory is
// measured without the clients': `loadgen` (or `loadgen run`) starts `loadgen serve`
// as a child, opens the connections, asks the child to append events at the given
// rate, and prints append-to-client latency, delivered/expected and server memory per
// connection.
//
//	scanledger loadgen -conns 10000 -rate 1000 -duration 30s
//
// It lives in this binary so that the server it measures is the one `serve` runs:
// the same Open, the same settings, the same parts.
func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		return runLoadgenServe(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	return runLoad(ctx, args, stdout, stderr)
}

// runLoadgenServe is the server process: the app `scanledger serve` runs, configured
// by the same settings (the load process passes the ones it needs as flags, and the
// secret in SCANLEDGER_JWT_SECRET, out of ps), plus /loadgen/ routes to append load
// and read memory figures. It stops when its stdin closes, so it never outlives the
// load process.
func runLoadgenServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, err := cfg.parse("loadgen serve", nil, stderr)
	if err != nil {
		return err
	}
	queue := fs.Int("queue", 0, "hub queue per subscription (0: the hub's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	ctl := &control{}
	a, err := openWith(ctx, cfg, extras{hubQueue: *queue, mounts: map[string]http.Handler{"/loadgen/": ctl.routes()}}, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	ctl.hub, ctl.scans, ctl.read = a.hub, a.scans, a.read
	err = a.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// control serves the load process's requests to the server process.
type control struct {
	hub   *relay.Hub
	scans *scan.Handler
	read  projections.DB
}

func (c *control) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /loadgen/stats", c.stats)
	mux.HandleFunc("POST /loadgen/append", c.append)
	// Where the memory goes: go tool pprof -sample_index=inuse_space <url>/loadgen/heap
	mux.Handle("GET /loadgen/heap", pprof.Handler("heap"))
	mux.Handle("GET /loadgen/goroutine", pprof.Handler("goroutine"))
	// Where the CPU goes, during a run: go tool pprof '<url>/loadgen/profile?seconds=20'
	mux.HandleFunc("GET /loadgen/profile", pprof.Profile)
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
	// CPU is the process's user and system CPU time so far, read before the
	// collections stats runs, so that they are not counted.
	CPU time.Duration `json:"cpuNs"`
}

// stats collects garbage first, so that the figures are what connections hold, not
// what the collector has not reached yet. Several cycles, because each one shrinks
// oversized goroutine stacks by half at most, as a long-running server's would be.
func (c *control) stats(w http.ResponseWriter, r *http.Request) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for range 4 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	writeJSON(w, serverStats{HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys,
		Goroutines: runtime.NumGoroutine(), Subscribers: c.hub.Subscribers(),
		NumGC: m.NumGC, PauseTotal: m.PauseTotalNs, GCCPU: m.GCCPUFraction, CPU: cpu})
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
