package main

import (
	"crypto/ed25519"
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

// keyFile returns the trimmed contents of the key file at path. When there is none and
// generate is given, it writes generate's value there first: whole into a temporary
// file, then linked to path, which fails if path exists. So of two processes starting
// at once the loser uses the winner's key, and nobody ever reads a key file that is
// created but not written yet (or left empty by a crash).
func keyFile(path string, generate func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) || generate == nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	s := generate()
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(s + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
			return keyFile(path, nil)
		}
		return "", err
	}
	return s, nil
}

// randomHex generates n random bytes in hex.
func randomHex(n int) func() string {
	return func() string {
		b := make([]byte, n)
		rand.Read(b) // never fails
		return hex.EncodeToString(b)
	}
}

// auditKeyPath is where the seal key lives: the configured file, or one in the data
// dir. Never the event database: whoever can write events must not be able to sign.
func (c *Config) auditKeyPath() string {
	if c.AuditKey != "" {
		return c.AuditKey
	}
	return filepath.Join(c.DataDir, "audit-seal.key")
}

// loadAuditKey reads the seal key, generating it on first use when create is set. The
// file holds the 32-byte Ed25519 seed in hex.
func (c *Config) loadAuditKey(create bool) (ed25519.PrivateKey, error) {
	var generate func() string
	if create {
		generate = randomHex(ed25519.SeedSize)
	}
	path := c.auditKeyPath()
	s, err := keyFile(path, generate)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	seed, err := hex.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit key %s: want %d bytes in hex", path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

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
	s, err := keyFile(path, randomHex(32))
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if len(s) < 32 {
		return nil, fmt.Errorf("%s is too short; delete it to generate a new one", path)
	}
	return []byte(s), nil
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
