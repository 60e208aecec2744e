package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: a flag, its environment variable, a default and
// what it does. The table below is the single source of truth; `scanledger config`
// prints it as the documentation in docs/configuration.md.
type setting struct {
	flag, env, def, usage string
	dst                   *string
}

// Config is everything `scanledger serve` can be told.
type Config struct {
	Addr         string
	DataDir      string
	PublicURL    string
	EventStore   string
	ReadModel    string
	Blobs        string
	Analyzer     string
	S3Endpoint   string
	S3Region     string
	S3AccessKey  string
	S3SecretKey  string
	S3UseSSL     string
	S3PublicURL  string
	JWTSecret    string
	JWTIssuer    string
	JWTAudience  string
	AccessTTL    string
	RefreshTTL   string
	CORSOrigins  string
	Proxies      string
	MaxImageSize string
	MaxImages    string
	Workers      string
	WorkerLease  string
	Instance     string
	Drain        string
	Deadline     string
	MaxRetries   string
	Heartbeat    string
	BodyTimeout  string
	BodyMinRate  string
	SignupsPerIP string
	LivePerUser  string
	LivePerIP    string
	Roles        string
	LogLevel     string
	LogFormat    string
	ReadyMaxLag  string
	AuditKey     string
	SealEvery    string
	PhotoSweep   string
	PhotoGrace   string
}

func (c *Config) settings() []setting {
	return []setting{
		{"addr", "SCANLEDGER_ADDR", "127.0.0.1:3000", "address to listen on (the PWA's default backend is port 3000; use :3000 to accept other machines)", &c.Addr},
		{"data-dir", "SCANLEDGER_DATA_DIR", "./var", "directory for embedded-mode data: the SQLite file, photos and the generated secret", &c.DataDir},
		{"public-url", "SCANLEDGER_PUBLIC_URL", "", "base URL browsers and the analyzer reach this server at, for signed photo URLs (default http://<addr>)", &c.PublicURL},
		{"eventstore", "SCANLEDGER_EVENTSTORE", "", "event store: a SQLite path or sqlite:// URL (default <data-dir>/scanledger.db), a postgres:// URL, or a KurrentDB esdb:// (kurrentdb://) connection string", &c.EventStore},
		{"readmodel", "SCANLEDGER_READMODEL", "", "read-model database: a postgres:// URL, or the event store's SQLite file (default: the event store's database)", &c.ReadModel},
		{"blobs", "SCANLEDGER_BLOBS", "", "photo store: file:///dir (default <data-dir>/blobs) or s3://bucket (created if missing)", &c.Blobs},
		{"s3-endpoint", "SCANLEDGER_S3_ENDPOINT", "", "S3 endpoint host:port (or ?endpoint= in SCANLEDGER_BLOBS)", &c.S3Endpoint},
		{"s3-region", "SCANLEDGER_S3_REGION", "", "S3 region (default us-east-1)", &c.S3Region},
		{"s3-access-key", "SCANLEDGER_S3_ACCESS_KEY", "", "S3 access key", &c.S3AccessKey},
		{"s3-secret-key", "SCANLEDGER_S3_SECRET_KEY", "", "S3 secret key", &c.S3SecretKey},
		{"s3-use-ssl", "SCANLEDGER_S3_USE_SSL", "", "true to reach the S3 endpoint over TLS", &c.S3UseSSL},
		{"s3-public-url", "SCANLEDGER_S3_PUBLIC_URL", "", "http(s)://host[:port] browsers and the agents-service reach S3 at, for presigned photo URLs (default: the endpoint)", &c.S3PublicURL},
		{"analyzer", "SCANLEDGER_ANALYZER", "builtin", "analyzer: builtin (offline image checks) or the agents-service base URL, e.g. http://localhost:8000", &c.Analyzer},
		{"jwt-secret", "SCANLEDGER_JWT_SECRET", "", "HS256 secret for tokens and signed URLs (default: generated once into <data-dir>/secret.key)", &c.JWTSecret},
		{"jwt-issuer", "SCANLEDGER_JWT_ISSUER", "scanledger", "JWT iss claim", &c.JWTIssuer},
		{"jwt-audience", "SCANLEDGER_JWT_AUDIENCE", "scanledger-users", "JWT aud claim", &c.JWTAudience},
		{"access-ttl", "SCANLEDGER_ACCESS_TTL", "15m", "access token lifetime", &c.AccessTTL},
		{"refresh-ttl", "SCANLEDGER_REFRESH_TTL", "168h", "refresh token lifetime", &c.RefreshTTL},
		{"cors-origins", "SCANLEDGER_CORS_ORIGINS", "http://localhost:5173", "comma-separated browser origins allowed to call the API (the PWA's dev server by default)", &c.CORSOrigins},
		{"trusted-proxies", "SCANLEDGER_TRUSTED_PROXIES", "", "comma-separated proxy IPs/CIDRs allowed to set X-Forwarded-For (default: none, the connection's address is the client)", &c.Proxies},
		{"upload-max-bytes", "SCANLEDGER_UPLOAD_MAX_BYTES", "20971520", "largest accepted photo, in bytes", &c.MaxImageSize},
		{"upload-max-files", "SCANLEDGER_UPLOAD_MAX_FILES", "50", "most photos in one upload", &c.MaxImages},
		{"body-timeout", "SCANLEDGER_BODY_TIMEOUT", "20s", "head start a request body has; every byte received extends it by 1/body-min-rate seconds (408 when a client falls behind)", &c.BodyTimeout},
		{"body-min-rate", "SCANLEDGER_BODY_MIN_RATE", "500", "slowest average rate, in bytes per second, a request body may arrive at after body-timeout", &c.BodyMinRate},
		{"signups-per-ip", "SCANLEDGER_SIGNUPS_PER_IP", "10", "signups one client address may make in 15 minutes, counted in the shared database (429 beyond; 0: no limit)", &c.SignupsPerIP},
		{"live-per-user", "SCANLEDGER_LIVE_PER_USER", "20", "live connections (SSE, WebSocket, Socket.IO) one user may hold open on this instance (429 beyond; Socket.IO: connect_error)", &c.LivePerUser},
		{"live-per-ip", "SCANLEDGER_LIVE_PER_IP", "100", "live connections (SSE, WebSocket, Socket.IO) one client address may hold open on this instance (429 beyond; Socket.IO: connect_error)", &c.LivePerIP},
		{"workers", "SCANLEDGER_WORKERS", "2", "scan jobs this process runs at once (0: no worker here)", &c.Workers},
		{"worker-lease", "SCANLEDGER_WORKER_LEASE", "30s", "job lease; a crashed worker's job is taken over after it runs out", &c.WorkerLease},
		{"instance-id", "SCANLEDGER_INSTANCE_ID", "", "this instance's name among those sharing a database, kept across restarts so a restarted instance takes its jobs back at once (default: generated once into <data-dir>/instance-id)", &c.Instance},
		{"shutdown-drain", "SCANLEDGER_SHUTDOWN_DRAIN", "15s", "on SIGTERM, how long running analyses may go on before their jobs are handed back", &c.Drain},
		{"analyzer-deadline", "SCANLEDGER_ANALYZER_DEADLINE", "300s", "deadline of one analysis attempt", &c.Deadline},
		{"max-retries", "SCANLEDGER_MAX_RETRIES", "2", "automatic retries of a retryable analysis failure per processing request", &c.MaxRetries},
		{"heartbeat", "SCANLEDGER_HEARTBEAT", "15s", "heartbeat interval on live streams", &c.Heartbeat},
		{"roles", "SCANLEDGER_ROLES", "http,worker,projector", "what this process does: any of http, worker, projector", &c.Roles},
		{"log-level", "SCANLEDGER_LOG_LEVEL", "info", "debug, info, warn or error", &c.LogLevel},
		{"log-format", "SCANLEDGER_LOG_FORMAT", "text", "text (logfmt) or json (one JSON object per line)", &c.LogFormat},
		{"ready-max-lag", "SCANLEDGER_READY_MAX_LAG", "1m", "GET /readyz answers 503 while a projection's oldest unapplied event has waited longer than this (0: lag never makes it unready)", &c.ReadyMaxLag},
		{"audit-key", "SCANLEDGER_AUDIT_KEY", "", "Ed25519 key file that signs audit seals, kept outside the event database (default <data-dir>/audit-seal.key, generated on first use)", &c.AuditKey},
		{"photo-sweep-interval", "SCANLEDGER_PHOTO_SWEEP_INTERVAL", "1h", "how often orphan photos (an upload whose event was never recorded, e.g. after a crash) are removed (0: never)", &c.PhotoSweep},
		{"photo-sweep-grace", "SCANLEDGER_PHOTO_SWEEP_GRACE", "1h", "how long an upload's photos must have been left untouched before a sweep may remove them", &c.PhotoGrace},
		{"seal-interval", "SCANLEDGER_SEAL_INTERVAL", "1m", "how often the service seals the event store when something was appended (0: only on demand)", &c.SealEvery},
	}
}

// parse fills c from defaults, then the environment, then flags (flags win).
func (c *Config) parse(name string, args []string, stderr io.Writer) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, s := range c.settings() {
		v := s.def
		if e, ok := os.LookupEnv(s.env); ok {
			v = e
		}
		fs.StringVar(s.dst, s.flag, v, s.usage+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs, nil
}

// writeDocs prints the settings table in Markdown.
func (c *Config) writeDocs(w io.Writer) {
	fmt.Fprintln(w, "| flag | environment variable | default | what it sets |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range c.settings() {
		def := s.def
		if def == "" {
			def = "(see text)"
		}
		fmt.Fprintf(w, "| `--%s` | `%s` | `%s` | %s |\n", s.flag, s.env, def, s.usage)
	}
}

func (c *Config) duration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("config %s: %q is not a duration (e.g. 30s, 5m)", name, v)
	}
	return d, nil
}

func (c *Config) integer(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("config %s: %q is not a non-negative integer", name, v)
	}
	return n, nil
}

func (c *Config) roles() (map[string]bool, error) {
	out := map[string]bool{}
	for _, r := range strings.Split(c.Roles, ",") {
		r = strings.TrimSpace(r)
		switch r {
		case "http", "worker", "projector":
			out[r] = true
		case "":
		default:
			return nil, fmt.Errorf("config roles: unknown role %q (http, worker, projector)", r)
		}
	}
	return out, nil
}

// sqlitePath resolves an event store or read-model setting to a SQLite file path.
func (c *Config) sqlitePath(v string) (string, bool) {
	switch {
	case v == "":
		return filepath.Join(c.DataDir, "scanledger.db"), true
	case strings.HasPrefix(v, "sqlite://"):
		return strings.TrimPrefix(v, "sqlite://"), true
	case strings.HasPrefix(v, "sqlite:"):
		return strings.TrimPrefix(v, "sqlite:"), true
	case strings.HasPrefix(v, "file:"):
		return strings.TrimPrefix(strings.TrimPrefix(v, "file://"), "file:"), true
	case !strings.Contains(v, "://"):
		return v, true
	}
	return "", false
}
