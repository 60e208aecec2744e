package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
)

// The layout of a backup directory; restore reads the same names.
const (
	backupDB       = "scanledger.db"
	backupBlobs    = "blobs"
	backupSecret   = "secret.key"
	backupManifest = "backup.json"
)

// manifest describes a backup; restore refuses a directory without one.
type manifest struct {
	CreatedAt time.Time `json:"createdAt"`
	Database  string    `json:"database"`
	Photos    int       `json:"photos"`
	Bytes     int64     `json:"photoBytes"`
	Secret    bool      `json:"secret"` // false: the secret is configured, not in the data dir
}

// embeddedPaths are the files of an embedded-mode data dir as cfg resolves them: the
// SQLite file (event store and read model), the photo directory and the secret file.
func embeddedPaths(cfg Config) (db, blobs, secret string, err error) {
	var ok bool
	if db, ok = cfg.sqlitePath(cfg.EventStore); !ok {
		return "", "", "", errors.New("backup and restore cover embedded mode (SQLite); back PostgreSQL up with pg_dump (docs/operations.md)")
	}
	if rm, ok := cfg.sqlitePath(cfg.ReadModel); cfg.ReadModel != "" && (!ok || rm != db) {
		return "", "", "", errors.New("backup and restore cover embedded mode: the read model must be the event store's SQLite file")
	}
	switch v := cfg.Blobs; {
	case v == "":
		blobs = filepath.Join(cfg.DataDir, "blobs")
	case strings.HasPrefix(v, "file://"):
		blobs = strings.TrimPrefix(v, "file://")
	case !strings.Contains(v, "://"):
		blobs = v
	default:
		return "", "", "", errors.New("backup and restore cover local photos (file://); back an S3 bucket up with the store's own tools")
	}
	return db, blobs, filepath.Join(cfg.DataDir, backupSecret), nil
}

// backupCmd copies the database (VACUUM INTO: one consistent snapshot, WAL included),
// then the photos and the secret, into a new directory, while the server keeps
// serving. Photos are immutable once stored and are stored before the event that
// names them, so every photo the copied database names is already there to copy.
type backupCmd struct{ to string }

func (c *backupCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.to, "to", "", "directory to create with the backup (must not exist)")
}

func (c *backupCmd) execute(ctx context.Context, cfg Config, flags *flag.FlagSet, stdout, stderr io.Writer) error {
	if c.to == "" {
		flags.Usage()
		return flag.ErrHelp
	}
	dbPath, blobDir, secretPath, err := embeddedPaths(cfg)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("backup: no database at %s: %w", dbPath, err)
	}
	if _, err := os.Stat(c.to); err == nil {
		return fmt.Errorf("backup: %s already exists", c.to)
	}
	// Built beside its destination and renamed at the end, so a directory at --to is
	// always a whole backup.
	tmp := filepath.Clean(c.to) + ".partial-" + rand.Text()[:8]
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	m := manifest{CreatedAt: time.Now().UTC(), Database: backupDB}
	if err := sqlite.CopyTo(ctx, dbPath, filepath.Join(tmp, backupDB)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if m.Photos, m.Bytes, err = copyTree(ctx, blobDir, filepath.Join(tmp, backupBlobs)); err != nil {
		return fmt.Errorf("backup photos: %w", err)
	}
	if err := copyFile(secretPath, filepath.Join(tmp, backupSecret)); err == nil {
		m.Secret = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup secret: %w", err)
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeSynced(filepath.Join(tmp, backupManifest), append(b, '\n')); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, c.to); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done = true
	fmt.Fprintf(stdout, "backup in %s: database, %d photos (%d bytes)", c.to, m.Photos, m.Bytes)
	if m.Secret {
		fmt.Fprintln(stdout, ", secret")
	} else {
		fmt.Fprintln(stdout, "; the secret is configured (SCANLEDGER_JWT_SECRET), keep it with the backup yourself")
	}
	return nil
}

// restoreCmd makes a new data dir from a backup. It never overwrites: the data dir must
// not exist or be empty, and the server must not be running on it.
type restoreCmd struct{ from string }

func (c *restoreCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.from, "from", "", "backup directory made by scanledger backup")
}

func (c *restoreCmd) execute(ctx context.Context, cfg Config, flags *flag.FlagSet, stdout, stderr io.Writer) error {
	if c.from == "" {
		flags.Usage()
		return flag.ErrHelp
	}
	var m manifest
	b, err := os.ReadFile(filepath.Join(c.from, backupManifest))
	if err != nil {
		return fmt.Errorf("restore: %s is not a backup: %w", c.from, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("restore: %s: %w", backupManifest, err)
	}
	dbPath, blobDir, secretPath, err := embeddedPaths(cfg)
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(cfg.DataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("restore: %s is not empty; restore into a new data dir", cfg.DataDir)
	}
	for _, p := range []string{dbPath, blobDir} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("restore: %s already exists", p)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := copyFile(filepath.Join(c.from, m.Database), dbPath); err != nil {
		return fmt.Errorf("restore database: %w", err)
	}
	photos, _, err := copyTree(ctx, filepath.Join(c.from, backupBlobs), blobDir)
	if err != nil {
		return fmt.Errorf("restore photos: %w", err)
	}
	if photos != m.Photos {
		return fmt.Errorf("restore: %d photos copied, the backup lists %d", photos, m.Photos)
	}
	if m.Secret {
		if err := copyFile(filepath.Join(c.from, backupSecret), secretPath); err != nil {
			return fmt.Errorf("restore secret: %w", err)
		}
	}
	// The server applies any newer migrations when it starts; here the copy only has
	// to prove itself whole.
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer db.Close()
	var check string
	if err := db.Read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		return fmt.Errorf("restore: integrity check of %s: %s %v", dbPath, check, err)
	}
	fmt.Fprintf(stdout, "restored the backup of %s into %s: database, %d photos", m.CreatedAt.Format(time.RFC3339), cfg.DataDir, photos)
	if !m.Secret {
		fmt.Fprint(stdout, "; set SCANLEDGER_JWT_SECRET to the secret the backup was made with")
	}
	fmt.Fprintln(stdout)
	return nil
}

// copyTree copies the regular files under src to dst, skipping the photo store's
// unpublished temporary files (".tmp-*"). A missing src is an empty tree.
func copyTree(ctx context.Context, src, dst string) (files int, size int64, err error) {
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return 0, 0, os.MkdirAll(dst, 0o750)
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o750)
		case strings.HasPrefix(d.Name(), ".tmp-") || !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // deleted with its scan while we walked
				return nil
			}
			return err
		}
		if err := copyFile(path, target); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		files++
		size += info.Size()
		return nil
	})
	return files, size, err
}

// copyFile copies src to a new file dst, synced, keeping src's permission bits.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
