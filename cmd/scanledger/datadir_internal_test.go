package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/scanledger/scanledger/domain/account"
)

// dataDirConfig is the configuration the command line gives for an embedded install
// in dir.
func dataDirConfig(t *testing.T, dir string) Config {
	t.Helper()
	var cfg Config
	if _, err := cfg.parse("test", []string{"--data-dir", dir}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openDataDir opens the databases of the embedded install in dir. The caller closes
// them, often before the end, to run a command on the same files.
func openDataDir(t *testing.T, dir string) *engines {
	t.Helper()
	e, err := openEngines(context.Background(), dataDirConfig(t, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// openDataDirApp opens the whole service on dir, listening nowhere. The caller closes it.
func openDataDirApp(t *testing.T, dir string) *App {
	t.Helper()
	a, err := Open(context.Background(), withoutListening(dataDirConfig(t, dir)), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// signUpIn signs a user up on the service in dir, which is closed again when it
// returns, and gives the new account.
func signUpIn(t *testing.T, dir, email string) account.Session {
	t.Helper()
	a := openDataDirApp(t, dir)
	defer a.Close()
	s, err := a.accounts.Signup(context.Background(), account.NewUser{Email: email, Password: "secret1"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
