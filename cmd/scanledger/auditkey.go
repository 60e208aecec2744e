package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

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
	path := c.auditKeyPath()
	b, err := os.ReadFile(path)
	if err == nil {
		seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("audit key %s: want %d bytes in hex", path, ed25519.SeedSize)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create audit key dir: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate audit key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
			return c.loadAuditKey(false)
		}
		return nil, fmt.Errorf("write audit key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key.Seed()) + "\n"); err != nil {
		return nil, fmt.Errorf("write audit key: %w", err)
	}
	return key, f.Sync()
}
