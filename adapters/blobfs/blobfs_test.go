package blobfs_test

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"io/fs"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/blob/blobtest"
	"github.com/scanledger/scanledger/internal/clocktest"
)

var secret = []byte("test-secret-of-at-least-32-bytes")

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, _ := newServed(t, t.TempDir())
		return s
	})
}

// newServed opens a Store under root whose signed URLs point at a live test server
// running its Handler, as the binary serves them.
func newServed(t *testing.T, root string) (*blobfs.Store, *httptest.Server) {
	t.Helper()
	// The listener exists before the server starts, so the store can be told its own
	// URL and the handler installed before any request can arrive.
	srv := httptest.NewUnstartedServer(nil)
	s, err := blobfs.New(root, secret, "http://"+srv.Listener.Addr().String())
	if err != nil {
		srv.Close()
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	srv.Config.Handler = s.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return s, srv
}

func newStore(t testing.TB, root string) *blobfs.Store {
	t.Helper()
	return newStoreAt(t, root, "http://blobs.test")
}

func newStoreAt(t testing.TB, root, baseURL string) *blobfs.Store {
	t.Helper()
	s, err := blobfs.New(root, secret, baseURL)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newClockedStore opens a Store in a fresh directory whose time is a settable clock,
// standing at a fixed time.
func newClockedStore(t testing.TB, baseURL string) (*blobfs.Store, *clocktest.Clock) {
	t.Helper()
	s, clk := newStoreAt(t, t.TempDir(), baseURL), clocktest.New(time.Unix(1_750_000_000, 0))
	s.Now = clk.Now
	return s, clk
}

func put(t *testing.T, s *blobfs.Store, key string, data []byte) blob.Info {
	t.Helper()
	info, err := s.Put(t.Context(), key, bytes.NewReader(data), 1<<30)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return info
}

func TestNewRefusesWeakSecretsAndUnusableBaseURLs(t *testing.T) {
	root := t.TempDir()
	if _, err := blobfs.New(root, secret[:blobfs.MinSecretLen-1], "http://127.0.0.1:8080"); err == nil {
		t.Errorf("New accepted a %d-byte secret", blobfs.MinSecretLen-1)
	}
	for _, base := range []string{"", "127.0.0.1:8080", "ftp://host", "http://", "http://host?x=1", "http://host#f", "http://user:pw@host"} {
		if s, err := blobfs.New(root, secret, base); err == nil {
			s.Close()
			t.Errorf("New accepted base url %q", base)
		}
	}
	if _, err := blobfs.New("", secret, "http://127.0.0.1:8080"); err == nil {
		t.Error("New accepted an empty root")
	}
}

func TestNewCreatesTheRootDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "var", "blobs")
	s := newStore(t, root)
	put(t, s, "scans/a/1.jpg", blobtest.Photo(t, "room2-1.jpg"))
	if _, err := os.Stat(filepath.Join(root, "scans", "a", "1.jpg")); err != nil {
		t.Fatalf("blob file: %v", err)
	}
}

func TestFailedPutsLeaveNoFilesBehind(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	photo := blobtest.Photo(t, "room1-1.jpeg")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	attempts := map[string]func() error{
		"unsupported": func() error {
			_, err := s.Put(t.Context(), "scans/a/svg.jpg", strings.NewReader("<svg/>"), 1<<20)
			return err
		},
		"too large": func() error {
			_, err := s.Put(t.Context(), "scans/a/big.jpg", bytes.NewReader(photo), int64(len(photo))-1)
			return err
		},
		"reader error": func() error {
			r := io.MultiReader(bytes.NewReader(photo[:len(photo)/2]), errReader{errors.New("reset")})
			_, err := s.Put(t.Context(), "scans/a/cut.jpg", r, 1<<30)
			return err
		},
		"cancelled": func() error {
			_, err := s.Put(ctx, "scans/a/cancelled.jpg", bytes.NewReader(photo), 1<<30)
			return err
		},
	}
	for name, attempt := range attempts {
		if err := attempt(); err == nil {
			t.Errorf("%s: Put succeeded", name)
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutWithANonPositiveLimitIsInvalid(t *testing.T) {
	s := newStore(t, t.TempDir())
	for _, limit := range []int64{0, -1} {
		_, err := s.Put(t.Context(), "a.jpg", bytes.NewReader(blobtest.Photo(t, "room2-1.jpg")), limit)
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("Put with maxBytes %d: %v, want %s", limit, err, domain.EINVALID)
		}
	}
}

func TestStoredFilesStillOpenAsPhotos(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	photo := blobtest.Photo(t, "room2-1.jpg")
	put(t, s, "scans/a/1.jpg", photo)
	onDisk, err := os.ReadFile(filepath.Join(root, "scans", "a", "1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(onDisk, photo) {
		t.Fatal("the file on disk does not start with the uploaded bytes")
	}
	if _, err := jpeg.Decode(bytes.NewReader(onDisk)); err != nil {
		t.Errorf("the file on disk does not decode as a JPEG: %v", err)
	}
}

func TestOpenRefusesFilesBlobfsDidNotWrite(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	// A photo copied in by hand has no trailer, so its hash is unknown.
	if err := os.WriteFile(filepath.Join(root, "stray.jpg"), blobtest.Photo(t, "room2-1.jpg"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Open(t.Context(), "stray.jpg")
	if err == nil {
		rc.Close()
		t.Fatal("Open served a file without a blobfs trailer")
	}
	if code := domain.ErrorCode(err); code != domain.EINTERNAL {
		t.Errorf("Open: %v (code %s), want an internal error", err, code)
	}
}

func TestOpenReturnsASeekableReader(t *testing.T) {
	s := newStore(t, t.TempDir())
	photo := blobtest.Photo(t, "room2-1.jpg")
	put(t, s, "a.jpg", photo)
	rc, info, err := s.Open(t.Context(), "a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs, ok := rc.(io.ReadSeeker)
	if !ok {
		t.Fatalf("Open returned %T, want an io.ReadSeeker for http.ServeContent", rc)
	}
	// Seeking to the end must stop at the blob's size: the trailer is not content.
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil || end != info.Size {
		t.Fatalf("Seek to end = %d, %v; want %d", end, err, info.Size)
	}
	if _, err := rs.Seek(-10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(rs)
	if !bytes.Equal(tail, photo[len(photo)-10:]) {
		t.Errorf("last 10 bytes = %x, want %x", tail, photo[len(photo)-10:])
	}
}

func TestBlobsAndDirectoriesCannotShareAName(t *testing.T) {
	s := newStore(t, t.TempDir())
	photo := blobtest.Photo(t, "room2-1.jpg")
	put(t, s, "scans/a.jpg", photo)
	put(t, s, "scans/d/1.jpg", photo)
	for _, key := range []string{"scans/a.jpg/1.jpg", "scans/d"} {
		_, err := s.Put(t.Context(), key, bytes.NewReader(photo), 1<<30)
		if code := domain.ErrorCode(err); code != domain.ECONFLICT {
			t.Errorf("Put %s: %v (code %s), want %s", key, err, code, domain.ECONFLICT)
		}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// A crash mid-Put leaves a ".tmp-" file beside where the blob would have gone: List
// reports it as a partial, so a sweep can find it, and DeletePrefix removes it.
func TestListReportsLeftoversOfUnfinishedPutsAsPartials(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	put(t, s, "scans/a/u1/1.jpg", blobtest.Photo(t, "room1-1.jpeg"))
	leftover := filepath.Join(root, "scans", "a", "u1", ".tmp-CRASHED")
	if err := os.WriteFile(leftover, []byte("half a photo"), 0o640); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	if err := s.List(t.Context(), "scans/a/", func(e blob.Entry) error { got[e.Key] = e.Partial; return nil }); err != nil {
		t.Fatalf("List: %v", err)
	}
	want := map[string]bool{"scans/a/u1/1.jpg": false, "scans/a/u1/.tmp-CRASHED": true}
	if !maps.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if err := s.DeletePrefix(t.Context(), "scans/a/u1/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the partial survived DeletePrefix: %v", err)
	}
}
