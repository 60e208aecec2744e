package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/scanledger/scanledger/adapters/s3"
)

// TestMain runs the tests against the S3 server named by TEST_S3_ENDPOINT,
// TEST_S3_ACCESS_KEY and TEST_S3_SECRET_KEY, or, when they are unset, against a versitygw
// it starts with scripts/versitygw.sh (building it on first use) and stops afterwards.
// No server fails the package instead of skipping it: a suite that silently skips
// proves nothing.
func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Getenv("TEST_S3_ENDPOINT") == "" {
		stop, err := startVersitygw()
		if err != nil {
			fmt.Fprintf(os.Stderr, "adapters/s3: no S3 server to test against: %v\n", err)
			return 1
		}
		defer stop()
	}
	return m.Run()
}

// startVersitygw runs scripts/versitygw.sh, exports what it prints and returns a function
// that stops the server it started (and only that one).
func startVersitygw() (stop func(), err error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "versitygw.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/versitygw.sh: %w", err)
	}
	for line := range strings.Lines(string(out)) {
		assignments, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(assignments) {
			k, v, _ := strings.Cut(kv, "=")
			if err := os.Setenv(k, v); err != nil {
				return nil, err
			}
		}
	}
	if os.Getenv("TEST_S3_ENDPOINT") == "" {
		return nil, fmt.Errorf("scripts/versitygw.sh printed no TEST_S3_ENDPOINT:\n%s", out)
	}
	pidfile := os.Getenv("TEST_S3_PIDFILE")
	return func() {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "adapters/s3: stop versitygw: %v\n", err)
			return
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil {
			err = syscall.Kill(pid, syscall.SIGTERM)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "adapters/s3: stop versitygw: %v\n", err)
		}
		os.Remove(pidfile)
	}, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// serverConfig is the server under test, with no bucket chosen: a Store's settings,
// not yet connected.
func serverConfig() s3.Store {
	return s3.Store{
		Endpoint:  os.Getenv("TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("TEST_S3_SECRET_KEY"),
		Region:    "us-east-1",
	}
}

// newBucket returns the config of a bucket of t's own, created by New on first use and
// removed with everything in it when t ends. A fresh bucket per test means no run sees
// another's objects, and the leftover checks see only what their own test did.
func newBucket(t testing.TB) s3.Store {
	t.Helper()
	cfg := serverConfig()
	cfg.Bucket = "scanledger-test-" + strings.ToLower(rand.Text()[:12])
	cfg.CreateBucket = true
	t.Cleanup(func() { removeBucket(t, cfg) })
	return cfg
}

// newStore connects a Store with cfg's settings.
func newStore(t testing.TB, cfg s3.Store) *s3.Store {
	t.Helper()
	s := cfg
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return &s
}

// rawClient reaches the bucket around the Store, to see what it really stored.
func rawClient(t testing.TB, cfg s3.Store) *minio.Client {
	t.Helper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	return c
}

func removeBucket(t testing.TB, cfg s3.Store) {
	// t.Context is already done in cleanups.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := rawClient(t, cfg)
	if ok, err := c.BucketExists(ctx, cfg.Bucket); err != nil || !ok {
		return
	}
	for u := range c.ListIncompleteUploads(ctx, cfg.Bucket, "", true) {
		if u.Err == nil {
			c.RemoveIncompleteUpload(ctx, cfg.Bucket, u.Key)
		}
	}
	objects := c.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range c.RemoveObjects(ctx, cfg.Bucket, objects, minio.RemoveObjectsOptions{}) {
		t.Errorf("cleanup: remove %s: %v", e.ObjectName, e.Err)
	}
	if err := c.RemoveBucket(ctx, cfg.Bucket); err != nil {
		t.Errorf("cleanup: remove bucket %s: %v", cfg.Bucket, err)
	}
}

// requireNoLeftovers checks that failed and finished uploads left no temporary objects
// and no multipart uploads behind: the bucket holds exactly the keys in want.
func requireNoLeftovers(t *testing.T, cfg s3.Store, want ...string) {
	t.Helper()
	c := rawClient(t, cfg)
	var got []string
	for obj := range c.ListObjects(t.Context(), cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list: %v", obj.Err)
		}
		got = append(got, obj.Key)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("bucket holds %q, want exactly %q", got, want)
	}
	for u := range c.ListIncompleteUploads(t.Context(), cfg.Bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("list multipart uploads: %v", u.Err)
		}
		t.Errorf("multipart upload left behind: %s (%s)", u.Key, u.UploadID)
	}
}

func readAll(t *testing.T, s *s3.Store, key string) []byte {
	t.Helper()
	rc, _, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, rc); err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b.Bytes()
}
