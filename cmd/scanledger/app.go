package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/agents"
	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/adapters/builtin"
	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/metrics"
	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/adapters/token"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/trail"
	"github.com/scanledger/scanledger/domain/worker"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/analytics"
	"github.com/scanledger/scanledger/projections/feed"
	"github.com/scanledger/scanledger/projections/scans"
)

// feedRetention is how long live-update history is kept for resuming clients.
const feedRetention = 7 * 24 * time.Hour

// App is a running scanledger: every part, composed here and nowhere else.
type App struct {
	cfg    Config
	extras extras
	log    *slog.Logger
	stdout io.Writer

	eng      *engines
	store    event.Store
	write    projections.DB // projections and job claims write here
	read     projections.DB // queries read here
	blobs    blobStore
	blobfs   *blobfs.Store // set when photos are in a local directory (served by us)
	analyzer analysis.Analyzer
	issuer   *token.Issuer
	scans    *scan.Handler
	accounts *accounts.Store
	trail    trail.Recorder
	hub      *relay.Hub
	sse      *relay.SSE
	ws       *relay.WebSocket
	runners  []*projections.Runner
	worker   *worker.Worker
	wakeJobs chan struct{}
	announce chan struct{} // a projection committed: tell the other instances

	listener    net.Listener
	http        *http.Server
	secret      []byte
	sio         interface{ Close() }
	sweepPhotos func(ctx context.Context, grace time.Duration) (int, error)
	metrics     *metrics.Metrics // GET /metrics (observe.go)
	started     time.Time        // when Run began
	sealer      *audit.Sealer    // signs seals over the event store (audit.go)
	auditKey    ed25519.PrivateKey
	accessTrail *audit.Trail
}

func newLogger(level slog.Level, format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Open builds every part from the configuration and opens the databases, but starts
// nothing.
func Open(ctx context.Context, cfg Config, stdout, stderr io.Writer) (*App, error) {
	return openWith(ctx, cfg, extras{}, stdout, stderr)
}

// extras are what `scanledger loadgen` adds to the app it measures: its control routes
// and a hub queue to experiment with. They are not settings: serve has none.
type extras struct {
	mounts   map[string]http.Handler
	hubQueue int
}

func openWith(ctx context.Context, cfg Config, x extras, stdout, stderr io.Writer) (_ *App, err error) {
	log := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	a := &App{cfg: cfg, extras: x, log: log, stdout: stdout, wakeJobs: make(chan struct{}, 1), announce: make(chan struct{}, 1),
		metrics: metrics.New()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// The server is the only command that generates the secret; issuer() only reads it.
	secret, err := loadSecret(cfg.JWTSecret, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.secret = secret
	if a.issuer, err = cfg.issuer(); err != nil {
		return nil, err
	}

	// Event store and read model.
	if a.eng, err = openEngines(ctx, cfg, a.log); err != nil {
		return nil, err
	}
	a.store, a.write, a.read = a.metrics.Store(a.eng.store), a.eng.write, a.eng.read
	a.scans = scan.NewHandler(a.store)
	a.scans.CacheSize = a.cfg.ScanCache
	if a.cfg.ScanCache == 0 {
		a.scans.CacheSize = -1 // the handler reads 0 as its default
	}
	// Commands decide on the cached scan and let the append's version check catch a
	// cache another instance made stale: a stream read saved per command.
	a.scans.TrustCache = true
	a.scans.Cipher = a.eng.cipher()
	a.scans.Observe = a.metrics.ObserveCommand
	if a.sealer, err = a.newSealer(); err != nil {
		return nil, err
	}
	limits := accounts.DefaultLoginLimits()
	limits.SignupsPerIP = cfg.SignupsPerIP
	// The access trail is events in the event store, chained and sealed like the rest.
	a.accessTrail = audit.NewTrail(a.store)
	a.trail = a.accessTrail
	a.accounts = accounts.New(a.write, a.read, a.issuer)
	a.accounts.Trail, a.accounts.LoginLimits = a.trail, limits
	if err := a.accounts.EnsureDefaults(ctx); err != nil {
		return nil, err
	}

	// Listen now, so signed URLs can name the real address (port 0 picks a free one).
	if a.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	public := cfg.PublicURL
	if public == "" {
		public = "http://" + reachable(a.listener.Addr().String())
	}

	// Photos.
	if a.blobs, a.blobfs, err = openBlobs(ctx, cfg, secret, public, log); err != nil {
		return nil, err
	}

	// Analyzer.
	if cfg.Analyzer == "builtin" {
		a.analyzer = builtin.New(a.blobs)
	} else {
		client := agents.New(cfg.Analyzer)
		client.CallTimeout = cfg.Deadline
		a.analyzer = client
	}
	a.analyzer = a.metrics.Analyzer(a.analyzer)

	// Live updates.
	a.hub = &relay.Hub{Feed: relay.TableFeed{DB: a.read}, Logger: log, Queue: x.hubQueue}
	a.sse = &relay.SSE{Hub: a.hub, Heartbeat: cfg.Heartbeat}
	// The WebSocket transport shares the SSE transport's hub and timings, and the API's
	// CORS origins, as the original backend shared one origin list for HTTP and sockets.
	a.ws = &relay.WebSocket{Hub: a.hub, Heartbeat: cfg.Heartbeat, Origins: cfg.CORSOrigins, Logger: a.log}

	if cfg.Roles.Projector {
		lock := func(name string) projections.LockFunc {
			// With a shared Postgres read model, one instance at a time writes each
			// projection; the others wait on its advisory lock and take over when the
			// holder dies.
			if a.eng.pgRM != nil {
				return a.eng.pgRM.ProjectionLock(name)
			}
			return nil
		}
		// One list of projections for serve and the projections command (projectionKinds).
		for _, k := range projectionKinds() {
			r := projections.NewRunner(a.store, a.write, k.live(a.scans.Cipher))
			r.Logger, r.Lock = log, lock(k.name)
			r.MinCommitInterval = liveCommitInterval
			if !k.quiet {
				r.OnCommit = func(string, event.Recorded) { a.committed() }
			}
			if k.background {
				r.MinCommitInterval = backgroundCommitInterval
			}
			a.runners = append(a.runners, r)
		}
	}
	if cfg.Roles.Worker {
		if a.worker, err = a.newWorker(); err != nil {
			return nil, err
		}
		if a.worker != nil {
			a.metrics.Worker = a.worker.Stats
		}
	}
	a.metrics.Projections = func(ctx context.Context) ([]metrics.Projection, error) {
		return a.projectionStates(ctx, lagCountBound, true)
	}
	a.metrics.Relay = a.hub.Counters
	if cfg.Roles.HTTP {
		if a.http, err = a.newHTTP(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// A live projection commits at most once per interval, gathering what arrives in
// between: a commit costs far more than a live delivery's few events, so per-event
// commits were most of the live pipeline's CPU. Browsers wait on the read model's
// commits, so its interval is a few milliseconds; nobody waits on a background
// projection's.
const (
	liveCommitInterval       = 5 * time.Millisecond
	backgroundCommitInterval = 50 * time.Millisecond
)

// feedChannel is the Postgres notification channel on which instances tell each other
// that the read model moved (new feed rows, new jobs).
const feedChannel = "scanledger_readmodel"

// committed is the projections' OnCommit: wake this process's relay and worker, and
// (with a shared database) the other instances. It never blocks.
func (a *App) committed() {
	a.hub.Wake()
	for _, ch := range []chan struct{}{a.wakeJobs, a.announce} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// crossInstance relays commits between instances sharing a Postgres read model: NOTIFY
// after our commits, and wake our relay and worker on everyone's.
func (a *App) crossInstance(ctx context.Context) error {
	if a.eng.pgRM == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	heard, err := a.eng.pgRM.Listen(ctx, feedChannel)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.announce:
			if err := a.eng.pgRM.Notify(ctx, feedChannel); err != nil && ctx.Err() == nil {
				a.log.Warn("notify other instances", "err", err)
			}
		case _, ok := <-heard:
			if !ok {
				return ctx.Err()
			}
			a.hub.Wake()
			select {
			case a.wakeJobs <- struct{}{}:
			default:
			}
		}
	}
}

// reachable turns a listen address into one a client on this machine can dial.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (a *App) newWorker() (*worker.Worker, error) {
	c := a.cfg
	if c.Workers == 0 {
		return nil, nil
	}
	instance, err := instanceID(c.Instance, c.DataDir)
	if err != nil {
		return nil, err
	}
	return &worker.Worker{
		Jobs:        jobQueue{a.write},
		Scans:       a.scans,
		Analyzer:    a.analyzer,
		Signer:      a.blobs,
		Logger:      a.log,
		Prices:      a.accounts,
		Owner:       "worker-" + instance,
		Drain:       c.Drain,
		Concurrency: c.Workers,
		Lease:       c.WorkerLease,
		Deadline:    c.Deadline,
		MaxRetries:  c.MaxRetries,
		Wake:        a.wakeJobs,
	}, nil
}

func (a *App) newHTTP() (*http.Server, error) {
	c := a.cfg
	// The PWA's Socket.IO client: /socket.io/, namespace /scans, identity from the JWT in
	// the CONNECT auth, recovery from user_feed. Its pids are HMACs of the user id. A
	// reconnect may present an expired token of a login session that is still alive.
	// Socket.IO is mounted beside the API and admitted by it (built below), so the
	// revocation check and the live caps are the API's own.
	var api *httpapi.Server
	sio := &relay.SocketIO{
		Hub: a.hub, Tokens: a.issuer, PIDKey: derive(a.secret, "socketio-pid"),
		Heartbeat: c.Heartbeat, Origins: c.CORSOrigins, Logger: a.log,
		Sessions: a.accounts,
		Admit: func(ctx context.Context, cl auth.Claims, r *http.Request) (func(), error) {
			return api.AdmitLive(ctx, cl, r)
		},
	}
	a.sio = sio
	mounts := map[string]http.Handler{"/socket.io/": sio}
	for path, h := range a.extras.mounts {
		mounts[path] = h
	}
	if a.blobfs != nil {
		mounts["/blobs/"] = a.blobfs.Handler()
	}
	api = httpapi.New(httpapi.Config{
		Scans:          a.scans,
		Reader:         scans.Reader{DB: a.read},
		Blobs:          a.blobs,
		Tokens:         a.issuer,
		SSE:            a.sse,
		WebSocket:      a.ws,
		Checklists:     a.accounts,
		Accounts:       a.accounts,
		ChecklistStore: a.accounts,
		Console:        a.accounts,
		Trail:          a.trail,
		Analytics:      analytics.Reader{DB: a.read},
		Logger:         a.log,
		Verifier:       a.verifier(),
		Exporter:       a.exporter(),
		AccessTrail:    a.accessTrail,
		Eraser:         a.eraser(),
		Mounts:         mounts,
		Ready:          a.ready,
		Metrics:        a.metrics.Handler(),
		OnRequest:      a.metrics.ObserveRequest,
		MaxImageBytes:  c.MaxImageSize,
		MaxImages:      c.MaxImages,
		CORSOrigins:    c.CORSOrigins,
		TrustedProxies: c.Proxies,
		BodyGrace:      c.BodyTimeout,
		BodyMinRate:    c.BodyMinRate,
		LivePerUser:    c.LivePerUser,
		LivePerIP:      c.LivePerIP,
	})
	a.sweepPhotos = api.SweepOrphanPhotos
	a.metrics.Live = api.LiveConnections
	return &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}, nil
}

// Run starts every part and blocks until ctx is done, then shuts down in order: drain
// the worker (see worker.Worker.Drain), stop taking requests, then stop the background
// work.
func (a *App) Run(ctx context.Context) error {
	a.started = time.Now()
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(bg); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error(name+" stopped", "err", err)
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	// Background parts outlive their database: each retries on its own with capped,
	// jittered backoff (projections restart, the relay, listener and worker retry) and
	// only ctx stops them, so an outage never ends the process.
	for _, r := range a.runners {
		start("projection "+r.Name(), r.Keep)
	}
	start("relay", a.hub.Run)
	start("cross-instance notifications", a.crossInstance)
	start("feed janitor", a.janitor("prune feed", a.pruneFeed))
	start("session janitor", a.janitor("prune sessions", a.accounts.Prune))
	start("audit seals", a.runSeals)
	if a.sweepPhotos != nil {
		start("photo sweep", a.runPhotoSweep)
	}
	// The worker stops first, on its own context, and drains while the HTTP server
	// still serves the photos its analyses fetch.
	workerCtx, stopWorker := context.WithCancel(bg)
	defer stopWorker()
	workerDone := make(chan struct{})
	if a.worker != nil {
		go func() {
			defer close(workerDone)
			_ = a.worker.Run(workerCtx) // it returns only once workerCtx is done
		}()
	} else {
		close(workerDone)
	}
	if a.http != nil {
		go func() {
			if err := a.http.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
		fmt.Fprintf(a.stdout, "scanledger listening on http://%s (data in %s)\n", reachable(a.listener.Addr().String()), a.cfg.DataDir)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("shutting down")
	stopWorker()
	<-workerDone
	if a.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.sse.Close() // long-lived streams would hold Shutdown open
		a.sio.Close()
		_ = a.http.Shutdown(sctx)
		cancel()
	}
	stop()
	wg.Wait()
	return err
}

// janitor runs tidy at start and then hourly; a failed pass is logged and retried at
// the next tick.
func (a *App) janitor(what string, tidy func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if err := tidy(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn(what, "err", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// pruneFeed drops live-update history older than the retention window. Clients
// resuming from older ids get an explicit resync. The feed is a projection's table;
// accounts are not, and have their own janitor (accounts.Store.Prune).
func (a *App) pruneFeed(ctx context.Context) error {
	_, err := feed.Prune(ctx, a.write, time.Now().Add(-feedRetention))
	return err
}

// runPhotoSweep removes orphan photos at the configured interval, starting one interval
// after start (a restart after a crash sweeps its leftovers on schedule, not in the
// middle of recovering). A failed sweep is logged and retried at the next tick.
func (a *App) runPhotoSweep(ctx context.Context) error {
	every, grace := a.cfg.PhotoSweep, a.cfg.PhotoGrace
	if every == 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if _, err := a.sweepPhotos(ctx, grace); err != nil && ctx.Err() == nil {
			a.log.Warn("photo sweep", "err", err)
		}
	}
}

// Close releases everything Open acquired.
func (a *App) Close() {
	if a.listener != nil {
		a.listener.Close()
	}
	if a.blobs != nil {
		a.blobs.Close()
	}
	if a.eng != nil {
		a.eng.close()
	}
}
