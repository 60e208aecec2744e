package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// loadSecret returns the configured secret, or the one generated into the data dir on
// first start (embedded mode needs no configuration, and tokens survive restarts).
func loadSecret(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 16 {
			return nil, errors.New("the JWT secret (--jwt-secret or SCANLEDGER_JWT_SECRET) must be at least 16 characters")
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "secret.key")
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("%s is too short; delete it to generate a new one", path)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	s := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won the race: use its secret
			return loadSecret("", dataDir)
		}
		return nil, fmt.Errorf("write secret: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(s + "\n"); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return []byte(s), f.Sync()
}

// errNoSecret is a client command finding no server secret where it looked.
var errNoSecret = errors.New("no server secret")

// readSecret is loadSecret for client commands (token, scan, scans): they never create
// a secret, because one they made up would sign tokens no server accepts.
func readSecret(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		return loadSecret(configured, dataDir)
	}
	path := filepath.Join(dataDir, "secret.key")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		abs, _ := filepath.Abs(path)
		return nil, fmt.Errorf("%w: looked for %s, which `scanledger serve` creates in its data dir on first start", errNoSecret, abs)
	}
	return loadSecret("", dataDir)
}

// derive returns a key for one purpose, so one configured secret never signs two kinds
// of thing with the same key.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
