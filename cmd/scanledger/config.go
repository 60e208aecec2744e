package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: a flag, its environment variable, a default, what
// it does, and the typed field it fills. The table in settings is the single source of
// truth: `scanledger config` prints it as the documentation in docs/configuration.md,
// and parse reads every value once, into its type, refusing at start what it cannot
// use, naming the setting and where the value came from.
type setting struct {
	flag, env, def, usage string
	dst                   value
	scope                 scope
	secret                bool // config --effective never prints it
}

// scope says which commands read a setting; a command's flags (and its --help) are the
// settings of its scopes and its own.
type scope uint8

const (
	forDB     scope = 1 << iota // where the databases are: every command that opens them
	forTokens                   // signing and checking tokens
	forAudit                    // the seal key
	forPhotos                   // where the photos are
	forServe                    // the running service only
	forAll    = forDB | forTokens | forAudit | forPhotos | forServe
)

// commandScopes are the settings each command reads; a command not listed reads them
// all.
var commandScopes = map[string]scope{
	"token":       forDB | forTokens,
	"scan":        forDB | forTokens,
	"role":        forDB,
	"revoke":      forDB,
	"migrate":     forDB,
	"audit":       forDB | forAudit,
	"verify":      forDB | forAudit,
	"export":      forDB | forAudit,
	"history":     forDB,
	"query":       forDB,
	"projections": forDB,
	"backup":      forDB | forPhotos,
	"restore":     forDB | forPhotos,
}

// Config is everything `scanledger serve` can be told, parsed.
type Config struct {
	Addr         string
	DataDir      string
	PublicURL    string // "" or an http(s) URL without a trailing slash
	EventStore   string
	ReadModel    string
	Blobs        string
	Analyzer     string // "builtin" or an http(s) URL
	S3Endpoint   string
	S3Region     string
	S3AccessKey  string
	S3SecretKey  string
	S3UseSSL     *bool // nil: not set (the blobs URL's ?ssl= decides)
	S3PublicURL  string
	JWTSecret    string
	JWTIssuer    string
	JWTAudience  string
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	CORSOrigins  []string
	Proxies      []string
	MaxImageSize int64
	MaxImages    int
	Workers      int
	WorkerLease  time.Duration
	Instance     string
	Drain        time.Duration
	Deadline     time.Duration
	MaxRetries   int
	Heartbeat    time.Duration
	BodyTimeout  time.Duration
	BodyMinRate  int64
	SignupsPerIP int
	LivePerUser  int
	LivePerIP    int
	Roles        Roles
	LogLevel     slog.Level
	LogFormat    string // "text" or "json"
	ReadyMaxLag  time.Duration
	AuditKey     string
	SealEvery    time.Duration
	PhotoSweep   time.Duration
	PhotoGrace   time.Duration

	// in force is, per flag name, the text of the value in force and where it came
	// from, for `config --effective`.
	inForce map[string]source
}

// Roles are what this process does.
type Roles struct{ HTTP, Worker, Projector bool }

// source is one setting's value in force: its text and where it came from (default,
// env NAME or flag --name).
type source struct{ text, from string }

func (c *Config) settings() []setting {
	return []setting{
		{"addr", "SCANLEDGER_ADDR", "127.0.0.1:3000", "address to listen on (the PWA's default backend is port 3000; use :3000 to accept other machines)", text(&c.Addr), forServe, false},
		{"data-dir", "SCANLEDGER_DATA_DIR", "./var", "directory for embedded-mode data: the SQLite file, photos and the generated secret", nonEmpty(&c.DataDir), forAll, false},
		{"public-url", "SCANLEDGER_PUBLIC_URL", "", "base URL browsers and the analyzer reach this server at, for signed photo URLs (default http://<addr>)", httpURL(&c.PublicURL), forServe, false},
		{"eventstore", "SCANLEDGER_EVENTSTORE", "", "event store: a SQLite path or sqlite:// URL (default <data-dir>/scanledger.db), a postgres:// URL, or a KurrentDB esdb:// (kurrentdb://) connection string", checked(&c.EventStore, checkEventStore), forDB, false},
		{"readmodel", "SCANLEDGER_READMODEL", "", "read-model database: a postgres:// URL, or the event store's SQLite file (default: the event store's database)", checked(&c.ReadModel, checkReadModel), forDB, false},
		{"blobs", "SCANLEDGER_BLOBS", "", "photo store: file:///dir (default <data-dir>/blobs) or s3://bucket (created if missing)", checked(&c.Blobs, checkBlobs), forPhotos, false},
		{"s3-endpoint", "SCANLEDGER_S3_ENDPOINT", "", "S3 endpoint host:port (or ?endpoint= in SCANLEDGER_BLOBS)", text(&c.S3Endpoint), forServe, false},
		{"s3-region", "SCANLEDGER_S3_REGION", "", "S3 region (default us-east-1)", text(&c.S3Region), forServe, false},
		{"s3-access-key", "SCANLEDGER_S3_ACCESS_KEY", "", "S3 access key", text(&c.S3AccessKey), forServe, true},
		{"s3-secret-key", "SCANLEDGER_S3_SECRET_KEY", "", "S3 secret key", text(&c.S3SecretKey), forServe, true},
		{"s3-use-ssl", "SCANLEDGER_S3_USE_SSL", "", "true to reach the S3 endpoint over TLS", maybeBool(&c.S3UseSSL), forServe, false},
		{"s3-public-url", "SCANLEDGER_S3_PUBLIC_URL", "", "http(s)://host[:port] browsers and the agents-service reach S3 at, for presigned photo URLs (default: the endpoint)", httpURL(&c.S3PublicURL), forServe, false},
		{"analyzer", "SCANLEDGER_ANALYZER", "builtin", "analyzer: builtin (offline image checks) or the agents-service base URL, e.g. http://localhost:8000", analyzer(&c.Analyzer), forServe, false},
		{"jwt-secret", "SCANLEDGER_JWT_SECRET", "", "HS256 secret for tokens and signed URLs (default: generated once into <data-dir>/secret.key)", jwtSecret(&c.JWTSecret), forTokens, true},
		{"jwt-issuer", "SCANLEDGER_JWT_ISSUER", "scanledger", "JWT iss claim", nonEmpty(&c.JWTIssuer), forTokens, false},
		{"jwt-audience", "SCANLEDGER_JWT_AUDIENCE", "scanledger-users", "JWT aud claim", nonEmpty(&c.JWTAudience), forTokens, false},
		{"access-ttl", "SCANLEDGER_ACCESS_TTL", "15m", "access token lifetime", positive(&c.AccessTTL), forTokens, false},
		{"refresh-ttl", "SCANLEDGER_REFRESH_TTL", "168h", "refresh token lifetime", positive(&c.RefreshTTL), forTokens, false},
		{"cors-origins", "SCANLEDGER_CORS_ORIGINS", "http://localhost:5173", "comma-separated browser origins allowed to call the API and open live connections from another site, one rule for REST, SSE, WebSocket and Socket.IO (a trailing /, letter case and a default port do not matter; * allows any); the PWA's dev server by default", commaList(&c.CORSOrigins), forServe, false},
		{"trusted-proxies", "SCANLEDGER_TRUSTED_PROXIES", "", "comma-separated proxy IPs/CIDRs allowed to set X-Forwarded-For (default: none, the connection's address is the client)", commaList(&c.Proxies), forServe, false},
		{"upload-max-bytes", "SCANLEDGER_UPLOAD_MAX_BYTES", "20971520", "largest accepted photo, in bytes", byteCount(&c.MaxImageSize), forServe, false},
		{"upload-max-files", "SCANLEDGER_UPLOAD_MAX_FILES", "50", "most photos in one upload", count(&c.MaxImages), forServe, false},
		{"body-timeout", "SCANLEDGER_BODY_TIMEOUT", "20s", "head start a request body has; every byte received extends it by 1/body-min-rate seconds (408 when a client falls behind)", duration(&c.BodyTimeout), forServe, false},
		{"body-min-rate", "SCANLEDGER_BODY_MIN_RATE", "500", "slowest average rate, in bytes per second, a request body may arrive at after body-timeout", byteCount(&c.BodyMinRate), forServe, false},
		{"signups-per-ip", "SCANLEDGER_SIGNUPS_PER_IP", "10", "signups one client address may make in 15 minutes, counted in the shared database (429 beyond; 0: no limit)", count(&c.SignupsPerIP), forServe, false},
		{"live-per-user", "SCANLEDGER_LIVE_PER_USER", "20", "live connections (SSE, WebSocket, Socket.IO) one user may hold open on this instance (429 beyond; Socket.IO: connect_error)", count(&c.LivePerUser), forServe, false},
		{"live-per-ip", "SCANLEDGER_LIVE_PER_IP", "100", "live connections (SSE, WebSocket, Socket.IO) one client address may hold open on this instance (429 beyond; Socket.IO: connect_error)", count(&c.LivePerIP), forServe, false},
		{"workers", "SCANLEDGER_WORKERS", "2", "scan jobs this process runs at once (0: no worker here)", count(&c.Workers), forServe, false},
		{"worker-lease", "SCANLEDGER_WORKER_LEASE", "30s", "job lease; a crashed worker's job is taken over after it runs out", positive(&c.WorkerLease), forServe, false},
		{"instance-id", "SCANLEDGER_INSTANCE_ID", "", "this instance's name among those sharing a database, kept across restarts so a restarted instance takes its jobs back at once (default: generated once into <data-dir>/instance-id)", text(&c.Instance), forServe, false},
		{"shutdown-drain", "SCANLEDGER_SHUTDOWN_DRAIN", "15s", "on SIGTERM, how long running analyses may go on before their jobs are handed back", duration(&c.Drain), forServe, false},
		{"analyzer-deadline", "SCANLEDGER_ANALYZER_DEADLINE", "300s", "deadline of one analysis attempt", positive(&c.Deadline), forServe, false},
		{"max-retries", "SCANLEDGER_MAX_RETRIES", "2", "automatic retries of a retryable analysis failure per processing request", count(&c.MaxRetries), forServe, false},
		{"heartbeat", "SCANLEDGER_HEARTBEAT", "15s", "heartbeat interval on live streams", positive(&c.Heartbeat), forServe, false},
		{"roles", "SCANLEDGER_ROLES", "http,worker,projector", "what this process does: any of http, worker, projector", roles(&c.Roles), forServe, false},
		{"log-level", "SCANLEDGER_LOG_LEVEL", "info", "debug, info, warn or error", level(&c.LogLevel), forAll, false},
		{"log-format", "SCANLEDGER_LOG_FORMAT", "text", "text (logfmt) or json (one JSON object per line)", oneOf(&c.LogFormat, "text", "json"), forAll, false},
		{"ready-max-lag", "SCANLEDGER_READY_MAX_LAG", "1m", "GET /readyz answers 503 while a projection's oldest unapplied event has waited longer than this (0: lag never makes it unready)", duration(&c.ReadyMaxLag), forServe, false},
		{"audit-key", "SCANLEDGER_AUDIT_KEY", "", "Ed25519 key file that signs audit seals, kept outside the event database (default <data-dir>/audit-seal.key, generated on first use)", text(&c.AuditKey), forAudit, false},
		{"photo-sweep-interval", "SCANLEDGER_PHOTO_SWEEP_INTERVAL", "1h", "how often orphan photos (an upload whose event was never recorded, e.g. after a crash) are removed (0: never)", duration(&c.PhotoSweep), forServe, false},
		{"photo-sweep-grace", "SCANLEDGER_PHOTO_SWEEP_GRACE", "1h", "how long an upload's photos must have been left untouched before a sweep may remove them (more than 0: a sweep must never take an upload in progress)", positive(&c.PhotoGrace), forServe, false},
		{"seal-interval", "SCANLEDGER_SEAL_INTERVAL", "1m", "how often the service seals the event store when something was appended (0: only on demand)", duration(&c.SealEvery), forServe, false},
	}
}

// parse fills c from defaults, then the environment, then flags (flags win), for the
// settings command name reads. A value its setting cannot use is an error naming the
// setting and where the value came from, before anything is opened. The returned
// flag set may be given the command's own flags and parsed again.
func (c *Config) parse(name string, args []string, stderr io.Writer) (*flag.FlagSet, error) {
	sc, ok := commandScopes[strings.Fields(name + " x")[0]]
	if !ok {
		sc = forAll
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: scanledger %s [flags]\n", name)
		fs.PrintDefaults()
	}
	c.inForce = map[string]source{}
	for _, s := range c.settings() {
		if s.scope&sc == 0 {
			continue
		}
		v, from := s.def, "default"
		if e, ok := os.LookupEnv(s.env); ok {
			v, from = e, "env "+s.env
		}
		if err := s.dst.set(v); err != nil {
			return nil, fmt.Errorf("config %s: %q from %s: %w", s.flag, v, from, err)
		}
		c.inForce[s.flag] = source{v, from}
		fs.Var(&settingFlag{c: c, s: s}, s.flag, s.usage+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs, nil
}

// settingFlag is a setting as a command-line flag.
type settingFlag struct {
	c *Config
	s setting
}

func (f *settingFlag) String() string {
	if f.c == nil {
		return ""
	}
	return f.c.inForce[f.s.flag].text
}

func (f *settingFlag) Set(v string) error {
	if err := f.s.dst.set(v); err != nil {
		return fmt.Errorf("config %s: %q from flag --%s: %w", f.s.flag, v, f.s.flag, err)
	}
	f.c.inForce[f.s.flag] = source{v, "flag --" + f.s.flag}
	return nil
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

// writeEffective prints every setting's value in force and where it came from.
func (c *Config) writeEffective(w io.Writer) {
	for _, s := range c.settings() {
		in, ok := c.inForce[s.flag]
		if !ok {
			continue
		}
		v := in.text
		switch {
		case s.secret && v != "":
			v = "(set, not shown)"
		case v == "":
			v = "(unset)"
		}
		fmt.Fprintf(w, "%-21s %-30s %s\n", s.flag, in.from, v)
	}
}

// value parses a setting's text into its typed field.
type value interface{ set(string) error }

type setFunc func(string) error

func (f setFunc) set(v string) error { return f(v) }

func text(p *string) value { return setFunc(func(v string) error { *p = v; return nil }) }

func nonEmpty(p *string) value {
	return setFunc(func(v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		*p = v
		return nil
	})
}

func checked(p *string, check func(string) error) value {
	return setFunc(func(v string) error {
		if err := check(v); err != nil {
			return err
		}
		*p = v
		return nil
	})
}

// duration is zero or more (0 turns the thing off, where the usage says so).
func duration(p *time.Duration) value {
	return setFunc(func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return errors.New("not a duration (e.g. 30s, 5m)")
		}
		*p = d
		return nil
	})
}

// positive is a duration that must be more than zero.
func positive(p *time.Duration) value {
	return setFunc(func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("not a duration above zero (e.g. 30s, 5m)")
		}
		*p = d
		return nil
	})
}

func count(p *int) value {
	return setFunc(func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("not a whole number of 0 or more")
		}
		*p = n
		return nil
	})
}

func byteCount(p *int64) value {
	return setFunc(func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errors.New("not a number of bytes (0 or more)")
		}
		*p = n
		return nil
	})
}

func maybeBool(p **bool) value {
	return setFunc(func(v string) error {
		if v == "" {
			*p = nil
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("neither true nor false")
		}
		*p = &b
		return nil
	})
}

func httpURL(p *string) value {
	return setFunc(func(v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("not an http(s)://host[:port] URL")
			}
		}
		*p = strings.TrimRight(v, "/")
		return nil
	})
}

func analyzer(p *string) value {
	return setFunc(func(v string) error {
		if v == "" {
			v = "builtin"
		}
		if v != "builtin" {
			if err := httpURL(new(string)).set(v); err != nil {
				return errors.New("neither builtin nor an http(s) URL")
			}
		}
		*p = v
		return nil
	})
}

func jwtSecret(p *string) value {
	return setFunc(func(v string) error {
		if v != "" && len(v) < 16 {
			return errors.New("shorter than 16 characters")
		}
		*p = v
		return nil
	})
}

func commaList(p *[]string) value {
	return setFunc(func(v string) error {
		*p = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				*p = append(*p, o)
			}
		}
		return nil
	})
}

func roles(p *Roles) value {
	return setFunc(func(v string) error {
		var r Roles
		for _, name := range strings.Split(v, ",") {
			switch strings.TrimSpace(name) {
			case "http":
				r.HTTP = true
			case "worker":
				r.Worker = true
			case "projector":
				r.Projector = true
			case "":
			default:
				return fmt.Errorf("unknown role %q (http, worker, projector)", strings.TrimSpace(name))
			}
		}
		*p = r
		return nil
	})
}

func oneOf(p *string, choices ...string) value {
	return setFunc(func(v string) error {
		for _, c := range choices {
			if v == c {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("not %s", strings.Join(choices, " or "))
	})
}

func level(p *slog.Level) value {
	return setFunc(func(v string) error {
		if err := p.UnmarshalText([]byte(v)); err != nil {
			return errors.New("not debug, info, warn or error")
		}
		return nil
	})
}

func checkEventStore(v string) error {
	if isKurrent(v) || isPostgres(v) {
		return nil
	}
	if _, ok := sqlitePath("", v); !ok {
		return errors.New("neither a SQLite path nor a postgres:// URL nor a KurrentDB connection string")
	}
	return nil
}

func checkReadModel(v string) error {
	if _, ok := sqlitePath("", v); ok || isPostgres(v) {
		return nil
	}
	return errors.New("neither a postgres:// URL nor a SQLite path")
}

func checkBlobs(v string) error {
	if v == "" || strings.HasPrefix(v, "file://") || !strings.Contains(v, "://") {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return errors.New("neither file:///dir nor s3://bucket")
	}
	if ssl := u.Query().Get("ssl"); ssl != "" {
		if _, err := strconv.ParseBool(ssl); err != nil {
			return errors.New("its ?ssl= is neither true nor false")
		}
	}
	return nil
}

// sqlitePath resolves an event store or read-model setting to a SQLite file path.
func (c *Config) sqlitePath(v string) (string, bool) { return sqlitePath(c.DataDir, v) }

func sqlitePath(dataDir, v string) (string, bool) {
	switch {
	case v == "":
		return filepath.Join(dataDir, "scanledger.db"), true
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
