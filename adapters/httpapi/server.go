// Package httpapi is scanledger's HTTP surface on gin: the PWA's /api/v1 contract
// (contracts/housescanner.md), our own additions (scan history, verification, live
// streams) and health. Handlers decode, call the domain, and encode; one table maps
// domain error codes to statuses.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/erasure"
	"github.com/scanledger/scanledger/domain/origin"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/trail"
)

// Checklists gives the merged checklists a user's next processing attempt uses.
type Checklists interface {
	Merged(ctx context.Context, userID string) (scan.Checklists, error)
}

// Tokens verifies access tokens (adapters/token.Issuer, composed in cmd).
type Tokens interface {
	Verify(raw, kind string) (auth.Claims, error)
}

// Config holds the server's dependencies and limits. cmd/scanledger fills it.
type Config struct {
	Scans  *scan.Handler
	Reader Reader
	Blobs  blob.Store
	Tokens Tokens
	// SSE and WebSocket are the live-update transports (live.go); nil: not offered.
	SSE        LiveTransport
	WebSocket  WebSocketTransport
	Checklists Checklists
	Logger     *slog.Logger

	// Accounts and checklist storage (accounts.go, checklists.go).
	Accounts       Accounts
	ChecklistStore ChecklistStore
	// Console serves /admin/*, /models-info and /agents-runs (admin.go); Trail records
	// reads of other users' data there.
	Console Console
	Trail   trail.Recorder
	// Analytics serves /analytics/* to analysts (analytics.go).
	Analytics Analytics

	// Verifier checks the ledger for auditors (audit.go); nil: not offered.
	Verifier *audit.Verifier
	// Exporter writes sealed exports for auditors (audit.go); nil: not offered.
	Exporter *audit.Exporter
	// AccessTrail lists the access trail for auditors (audit_scope.go); Trail above is
	// where entries are recorded (in the service, the same store-backed trail).
	AccessTrail *audit.Trail
	// Eraser, when set, serves DELETE /users/me (crypto-shredding, see docs/audit.md).
	Eraser *erasure.Eraser

	// Mounts are extra handlers by path prefix (signed blob downloads, Socket.IO).
	Mounts map[string]http.Handler
	// Ready reports whether the service can take traffic (GET /readyz).
	Ready func(ctx context.Context) error
	// Metrics, when set, serves GET /metrics (the Prometheus exposition).
	Metrics http.Handler
	// OnRequest, when set, is told of every request once it is answered, with the
	// route template (never the raw path; a mount's prefix; "unmatched" for 404s of
	// no route), for request metrics. It must not block.
	OnRequest func(method, route string, status int, took time.Duration)

	MaxImageBytes int64         // per photo (default 20 MiB)
	MaxImages     int           // per upload (default 50)
	URLTTL        time.Duration // signed photo URLs given to browsers (default 1 h)
	CORSOrigins   []string      // allowed browser origins; empty: none
	// TrustedProxies may set X-Forwarded-For (CIDRs or IPs); empty: none.
	TrustedProxies []string
	// A request body must arrive at BodyMinRate bytes per second on average after a
	// BodyGrace head start (defaults 20 s and 500 B/s, as Apache's mod_reqtimeout).
	BodyGrace   time.Duration
	BodyMinRate int64
	// UserCheckTTL is how long a user's token revocation state is cached (default 5 s):
	// a deleted user's token stops working within it. Accounts must implement
	// Revocations for the check to run.
	UserCheckTTL time.Duration
	// Live connections (SSE, WebSocket, and Socket.IO through AdmitLive) open at once per user and per client address
	// (defaults 20 and 100); more are refused with 429.
	LivePerUser, LivePerIP int
}

// Server is the HTTP API.
type Server struct {
	Config
	log     *slog.Logger
	revoked *revocationCache // nil without a Revocations source
	live    *liveLimiter
	origins origin.Policy // CORSOrigins, by the rule every transport uses
}

// New returns a Server.
func New(cfg Config) *Server {
	cfg.MaxImageBytes = orDefault(cfg.MaxImageBytes, 20<<20)
	cfg.MaxImages = orDefault(cfg.MaxImages, 50)
	cfg.BodyGrace = orDefault(cfg.BodyGrace, 20*time.Second)
	cfg.BodyMinRate = orDefault(cfg.BodyMinRate, 500)
	cfg.URLTTL = orDefault(cfg.URLTTL, time.Hour)
	cfg.UserCheckTTL = orDefault(cfg.UserCheckTTL, 5*time.Second)
	cfg.LivePerUser = orDefault(cfg.LivePerUser, 20)
	cfg.LivePerIP = orDefault(cfg.LivePerIP, 100)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{Config: cfg, log: cfg.Logger, live: newLiveLimiter(cfg.LivePerUser, cfg.LivePerIP), origins: origin.New(cfg.CORSOrigins)}
	if r, ok := cfg.Accounts.(Revocations); ok {
		s.revoked = &revocationCache{src: r, ttl: cfg.UserCheckTTL, entries: map[string]revocationEntry{}}
	}
	return s
}

// orDefault is v, or d when v is not positive: a limit left at zero (or set below it)
// takes its default.
func orDefault[T int | int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// Handler builds the router and puts the mounts beside it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for prefix, h := range s.Mounts {
		mux.Handle(prefix, h)
	}
	mux.Handle("/", s.router())
	return s.observe(s.minRate(mux))
}

func (s *Server) router() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// The client IP (login rate limits) comes from the connection unless proxies are
	// configured: a forged X-Forwarded-For must not pick its own IP.
	_ = r.SetTrustedProxies(s.TrustedProxies)
	r.Use(s.describe, gin.CustomRecoveryWithWriter(nil, s.logRecover), s.requestID, s.cors)
	r.HandleMethodNotAllowed = false
	r.NoRoute(s.notFoundRoute)

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.Metrics != nil {
		r.GET("/metrics", gin.WrapH(s.Metrics))
	}

	v1 := r.Group("/api/v1")
	v1.GET("/healthz", s.healthz)
	v1.GET("/openapi.json", s.openAPIDocument)
	authed := v1.Group("", s.authenticate, s.auditorsReadOnly)
	authed.POST("/scans", s.createScan)
	authed.POST("/scans/:scanId/images", s.uploadImages)
	authed.POST("/scans/:scanId/process", s.processScan)
	authed.GET("/scans/:scanId", s.getScan)
	authed.DELETE("/scans/:scanId", s.deleteScan)
	authed.GET("/scans/:scanId/events", s.scanEvents)
	authed.GET("/scans/:scanId/verify", s.verifyScan)
	authed.GET("/scans/:scanId/summary", s.scanSummary)
	authed.GET("/users/me/scans", s.myScans)
	s.liveRoutes(v1, authed)
	s.accountRoutes(v1, authed)
	s.checklistRoutes(authed)
	s.consoleRoutes(authed)
	s.analyticsRoutes(authed)
	s.auditRoutes(authed)
	return r
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *Server) readyz(c *gin.Context) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": err.Error()})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// cors answers browsers from the configured origins, with credentials, as the
// original backend's CORS settings did.
func (s *Server) cors(c *gin.Context) {
	from := c.GetHeader("Origin")
	if s.origins.Allows(from) {
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", from)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
		if c.Request.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Accept, X-Requested-With, X-CSRF-Token, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
	}
	c.Next()
}

// presentAll presents every row with f; no rows is an empty array, never null.
func presentAll[T, J any](rows []T, f func(T) J) []J {
	out := make([]J, 0, len(rows))
	for _, r := range rows {
		out = append(out, f(r))
	}
	return out
}

// ok writes the {"data": ...} envelope every success uses.
func ok(c *gin.Context, status int, v any) {
	c.JSON(status, gin.H{"data": v})
}
