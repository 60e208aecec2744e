package main_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/adapters/kurrentdb/kurrentdbtest"
	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/domain"
)

// mode is a way to run scanledger: each end-to-end test runs in every mode, unchanged.
type mode struct {
	name string
	// env returns the environment of a fresh installation in this mode; servers started
	// with the same env share its databases and bucket.
	env func(t *testing.T) []string
}

// inEveryMode runs f as a subtest in each mode, with that mode's environment.
func inEveryMode(t *testing.T, f func(t *testing.T, env []string)) {
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) { f(t, m.env(t)) })
	}
}

func modes() []mode {
	return []mode{
		{"embedded", func(*testing.T) []string { return nil }},
		{"postgres+s3", postgresS3Env},
		{"kurrentdb+postgres+s3", kurrentEnv},
	}
}

// kurrentEnv keeps events in KurrentDB (the in-memory gRPC KurrentDB of
// adapters/kurrentdb/kurrentdbtest: no real server can be installed here) and the read
// model in PostgreSQL, with photos in S3.
func kurrentEnv(t *testing.T) []string {
	t.Helper()
	env := postgresS3Env(t)
	_, esdb := kurrentdbtest.Start(t)
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "SCANLEDGER_EVENTSTORE=") {
			out = append(out, "SCANLEDGER_READMODEL="+strings.TrimPrefix(kv, "SCANLEDGER_EVENTSTORE="))
			continue
		}
		out = append(out, kv)
	}
	return append(out, "SCANLEDGER_EVENTSTORE="+esdb)
}

// postgresS3Env makes a fresh database on the test PostgreSQL (TEST_DATABASE_URL) and
// names a fresh bucket on the test S3 server (TEST_S3_*), both set up by `make test`.
func postgresS3Env(t *testing.T) []string {
	t.Helper()
	endpoint := os.Getenv("TEST_S3_ENDPOINT")
	if os.Getenv("TEST_DATABASE_URL") == "" || endpoint == "" {
		t.Fatal("postgres+s3 mode needs TEST_DATABASE_URL and TEST_S3_ENDPOINT: run the tests with `make test`")
	}
	dbURL := pgtest.New(t, "scanledger_e2e")
	bucket := "e2e-" + strings.ReplaceAll(domain.NewID(), "-", "")[:16]
	return []string{
		"SCANLEDGER_EVENTSTORE=" + dbURL,
		"SCANLEDGER_BLOBS=s3://" + bucket,
		"SCANLEDGER_S3_ENDPOINT=" + endpoint,
		"SCANLEDGER_S3_ACCESS_KEY=" + os.Getenv("TEST_S3_ACCESS_KEY"),
		"SCANLEDGER_S3_SECRET_KEY=" + os.Getenv("TEST_S3_SECRET_KEY"),
		fmt.Sprintf("SCANLEDGER_S3_PUBLIC_URL=http://%s", endpoint),
	}
}
