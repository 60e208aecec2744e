package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/adapters/kurrentdb"
	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/adapters/s3"
	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/migrations"
	"github.com/scanledger/scanledger/projections"
)

func isKurrent(v string) bool {
	for _, p := range []string{"esdb://", "esdb+discover://", "kurrentdb://", "kurrentdb+discover://", "kdb://"} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

func isPostgres(v string) bool {
	return strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://")
}

// engines are the databases a configuration names, opened once each.
type engines struct {
	sqlite  *sqlite.DB   // the SQLite file, when one is used
	pgES    *postgres.DB // the Postgres event store database, when used
	pgRM    *postgres.DB // the Postgres read-model database, when used (may be pgES)
	pgByURL map[string]*postgres.DB
	store   event.Store
	write   projections.DB
	read    projections.DB
	closer  []func()
	// ready reports whether the event store serves us, when it can tell (KurrentDB).
	ready func(context.Context) error
}

func (e *engines) close() {
	for i := len(e.closer) - 1; i >= 0; i-- {
		e.closer[i]()
	}
}

// catchUpBatch is the most events a store subscription delivers at once. The projection
// runners are its only subscribers: a delivery larger than their live batch tells them
// they are behind, and they then commit up to this many events per transaction
// (projections.Runner.CatchUpBatchSize), several times faster than small batches.
const catchUpBatch = 5000

// openEngines opens the event store and the read-model database the configuration
// names, and applies their migrations: embedded mode keeps both in one SQLite file;
// production keeps them in PostgreSQL (one database or two).
func openEngines(ctx context.Context, cfg Config, log *slog.Logger) (_ *engines, err error) {
	e := &engines{pgByURL: map[string]*postgres.DB{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	pg := func(u string) (*postgres.DB, error) {
		if d, ok := e.pgByURL[u]; ok {
			return d, nil
		}
		d, err := postgres.OpenDB(ctx, u)
		if err != nil {
			return nil, err
		}
		e.pgByURL[u] = d
		e.closer = append(e.closer, d.Close)
		return d, nil
	}
	es, rm := cfg.EventStore, cfg.ReadModel
	switch {
	case isKurrent(es):
		// KurrentDB keeps the events; the read model must be PostgreSQL.
		if !isPostgres(rm) {
			return nil, errors.New("config readmodel: a KurrentDB event store needs SCANLEDGER_READMODEL set to a postgres:// URL")
		}
		st, err := kurrentdb.Open(ctx, es)
		if err != nil {
			return nil, err
		}
		st.Logger = log
		st.StreamPrefixes = []string{kurrentdb.DefaultStreamPrefix, audit.StreamPrefix}
		e.closer = append(e.closer, func() { st.Close() })
		e.store, e.ready = st, st.Ready
	case isPostgres(es):
		if e.pgES, err = pg(es); err != nil {
			return nil, err
		}
		if err := e.pgES.Migrate(ctx, migrations.EventStore); err != nil {
			return nil, err
		}
		st := postgres.NewStore(e.pgES)
		st.SubscribeBatch = catchUpBatch
		e.closer = append(e.closer, st.Close)
		e.store = st
		if rm == "" {
			rm = es
		}
	default:
		path, ok := cfg.sqlitePath(es)
		if !ok {
			return nil, fmt.Errorf("config eventstore: %q is neither a SQLite path nor a postgres:// URL", es)
		}
		parts := []string{migrations.EventStore}
		if rp, ok := cfg.sqlitePath(rm); rm == "" || ok && rp == path {
			parts, rm = append(parts, migrations.ReadModel), ""
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create database dir: %w", err)
		}
		if e.sqlite, err = sqlite.Open(ctx, path, parts...); err != nil {
			return nil, err
		}
		e.closer = append(e.closer, func() { e.sqlite.Close() })
		st := sqlite.NewStore(e.sqlite)
		st.SubscribeBatch = catchUpBatch
		e.store = st
		if rm == "" {
			e.write = projections.DB{DB: e.sqlite.Write, Dialect: projections.SQLite}
			e.read = projections.DB{DB: e.sqlite.Read, Dialect: projections.SQLite}
			return e, nil
		}
	}
	if !isPostgres(rm) {
		return nil, fmt.Errorf("config readmodel: %q must be a postgres:// URL (or the event store's SQLite file)", rm)
	}
	if e.pgRM, err = pg(rm); err != nil {
		return nil, err
	}
	if err := e.pgRM.Migrate(ctx, migrations.ReadModel); err != nil {
		return nil, err
	}
	e.write = projections.DB{DB: e.pgRM.SQL(), Dialect: projections.Postgres}
	e.read = e.write
	return e, nil
}

// blobStore is what the service needs of a photo store; blobfs also serves its signed
// URLs itself (Handler).
type blobStore interface {
	blob.Store
	Close() error
}

// openBlobs opens the photo store: file:///dir (default <data-dir>/blobs) or
// s3://bucket, with the endpoint and credentials from the S3 settings (or the URL's
// query: ?endpoint=host:port&region=r&ssl=true).
func openBlobs(ctx context.Context, cfg Config, secret []byte, public string, log *slog.Logger) (blobStore, *blobfs.Store, error) {
	v := cfg.Blobs
	if v == "" || strings.HasPrefix(v, "file://") || !strings.Contains(v, "://") {
		dir := strings.TrimPrefix(v, "file://")
		if dir == "" {
			dir = filepath.Join(cfg.DataDir, "blobs")
		}
		fs, err := blobfs.New(dir, derive(secret, "blob-urls"), public)
		if err != nil {
			return nil, nil, err
		}
		fs.Logger = log
		return fs, fs, nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, nil, fmt.Errorf("config blobs: %q is neither file:///dir nor s3://bucket", v)
	}
	q := u.Query()
	pick := func(setting, query string) string {
		if setting != "" {
			return setting
		}
		return q.Get(query)
	}
	// The URL's ?ssl= was checked when the settings were read.
	ssl, _ := strconv.ParseBool(q.Get("ssl"))
	if cfg.S3UseSSL != nil {
		ssl = *cfg.S3UseSSL
	}
	st := &s3.Store{
		Endpoint:       pick(cfg.S3Endpoint, "endpoint"),
		Bucket:         u.Host,
		Region:         pick(cfg.S3Region, "region"),
		AccessKey:      cfg.S3AccessKey,
		SecretKey:      cfg.S3SecretKey,
		UseSSL:         ssl,
		PublicEndpoint: pick(cfg.S3PublicURL, "public"),
		CreateBucket:   true,
		Logger:         log,
	}
	if err := st.Connect(ctx); err != nil {
		return nil, nil, fmt.Errorf("open s3 blobs: %w", err)
	}
	return s3Closer{st}, nil, nil
}

type s3Closer struct{ *s3.Store }

func (s3Closer) Close() error { return nil }

// cipher seals and opens personal fields with the per-user keys kept in the
// read-model database (personal_keys): the SQLite file in embedded mode, the
// PostgreSQL read model otherwise, never the event tables.
func (e *engines) cipher() *personal.Cipher {
	return &personal.Cipher{Keys: &accounts.Keys{Write: e.write, Read: e.read}}
}

// scans is a command handler on the event store that seals and opens personal fields.
func (e *engines) scans() *scan.Handler {
	h := scan.NewHandler(e.store)
	h.Cipher = e.cipher()
	return h
}

// scrub makes deleted rows unreadable in the database files, where the engine keeps
// copies of them (SQLite's write-ahead log); PostgreSQL leaves that to VACUUM (see
// docs/audit.md).
func (e *engines) scrub(ctx context.Context) error {
	if e.sqlite == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return e.sqlite.Scrub(ctx)
}
