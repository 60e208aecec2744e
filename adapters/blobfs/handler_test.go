package blobfs_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

// serve runs one request through h and returns the recorded response.
func serve(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func signedURL(t *testing.T, s *blobfs.Store, key string, ttl time.Duration) *url.URL {
	t.Helper()
	raw, err := s.SignedURL(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("SignedURL %s: %v", key, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("SignedURL returned %q: %v", raw, err)
	}
	return u
}

// forge signs as the documented URL scheme does, for keys the store would never sign.
func forge(key string, expires int64) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s\n%d", key, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestSignedURLHasTheDocumentedShape(t *testing.T) {
	s, clk := newClockedStore(t, "https://photos.example/base/")
	got, err := s.SignedURL(t.Context(), "scans/a/1.jpg", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	expires := clk.Now().Add(90 * time.Second).Unix()
	want := fmt.Sprintf("https://photos.example/base/blobs/scans/a/1.jpg?expires=%d&sig=%s", expires, forge("scans/a/1.jpg", expires))
	if got != want {
		t.Errorf("SignedURL =\n %s\nwant\n %s", got, want)
	}
}

func TestSignedURLRoundsTTLUpToAWholeSecond(t *testing.T) {
	s, clk := newClockedStore(t, "http://blobs.test")
	clk.Advance(300 * time.Millisecond)
	u := signedURL(t, s, "a.jpg", time.Second)
	// 1_750_000_000.3 + 1s = ...001.3, rounded up: the URL never lives shorter than asked.
	if got := u.Query().Get("expires"); got != "1750000002" {
		t.Errorf("expires = %s, want 1750000002", got)
	}
}

func TestSignedURLRefusesTTLsOutsideOneSecondToSevenDays(t *testing.T) {
	s := newStore(t, t.TempDir())
	for _, ttl := range []time.Duration{0, -time.Second, 7*24*time.Hour + time.Second} {
		if _, err := s.SignedURL(t.Context(), "a.jpg", ttl); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("SignedURL with ttl %v: %v, want %s", ttl, err, domain.EINVALID)
		}
	}
	if _, err := s.SignedURL(t.Context(), "a.jpg", 7*24*time.Hour); err != nil {
		t.Errorf("SignedURL with a 7-day ttl: %v", err)
	}
}

func TestHandlerServesAPhotoWithSafeHeaders(t *testing.T) {
	s, clk := newClockedStore(t, "http://blobs.test")
	photo := blobtest.Photo(t, "room2-1.jpg")
	info := put(t, s, "scans/a/1.jpg", photo)
	u := signedURL(t, s, "scans/a/1.jpg", time.Minute)

	rec := serve(s.Handler(), http.MethodGet, u.String(), nil)
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), photo) {
		t.Fatalf("GET: status %d, %d bytes; want 200 and the photo", rec.Code, rec.Body.Len())
	}
	want := map[string]string{
		"Content-Type":           "image/jpeg",
		"Content-Length":         strconv.Itoa(len(photo)),
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "private, max-age=60",
		"Etag":                   `"` + info.SHA256 + `"`,
	}
	for h, v := range want {
		if got := rec.Header().Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}

	// Caches may not keep the photo past the URL's own expiry.
	clk.Advance(45 * time.Second)
	rec = serve(s.Handler(), http.MethodGet, u.String(), nil)
	if got := rec.Header().Get("Cache-Control"); got != "private, max-age=15" {
		t.Errorf("15s before expiry: Cache-Control = %q, want private, max-age=15", got)
	}
}

func TestHandlerAnswersHeadRangeAndConditionalRequests(t *testing.T) {
	s := newStore(t, t.TempDir())
	photo := blobtest.Photo(t, "room2-1.jpg")
	info := put(t, s, "a.jpg", photo)
	u := signedURL(t, s, "a.jpg", time.Minute).String()
	h := s.Handler()

	rec := serve(h, http.MethodHead, u, nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != strconv.Itoa(len(photo)) {
		t.Errorf("HEAD: status %d, %d body bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}

	rec = serve(h, http.MethodGet, u, http.Header{"Range": {"bytes=100-199"}})
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), photo[100:200]) {
		t.Errorf("Range: status %d, %d bytes; want 206 and bytes 100-199", rec.Code, rec.Body.Len())
	}
	if got, want := rec.Header().Get("Content-Range"), fmt.Sprintf("bytes 100-199/%d", len(photo)); got != want {
		t.Errorf("Content-Range = %q, want %q", got, want)
	}

	rec = serve(h, http.MethodGet, u, http.Header{"If-None-Match": {`"` + info.SHA256 + `"`}})
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: status %d, want 304", rec.Code)
	}
}

func TestHandlerAllowsOnlyGetAndHead(t *testing.T) {
	s := newStore(t, t.TempDir())
	put(t, s, "a.jpg", blobtest.Photo(t, "room2-1.jpg"))
	u := signedURL(t, s, "a.jpg", time.Minute).String()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := serve(s.Handler(), m, u, nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q; want 405 and GET, HEAD", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

func TestHandlerSaysNotFoundOnlyToHoldersOfAValidURL(t *testing.T) {
	s := newStore(t, t.TempDir())
	u := signedURL(t, s, "scans/missing.jpg", time.Minute)
	rec := serve(s.Handler(), http.MethodGet, u.String(), nil)
	if rec.Code != http.StatusNotFound || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("signed url of a missing blob: status %d, Cache-Control %q; want 404, no-store", rec.Code, rec.Header().Get("Cache-Control"))
	}
	rec = serve(s.Handler(), http.MethodGet, "/blobs/scans/missing.jpg", nil)
	if rec.Code != http.StatusForbidden {
		t.Errorf("unsigned url of a missing blob: status %d, want 403", rec.Code)
	}
}

func TestHandlerRejectsTamperedURLs(t *testing.T) {
	s := newStore(t, t.TempDir())
	photo := blobtest.Photo(t, "room2-1.jpg")
	put(t, s, "scans/a/1.jpg", photo)
	put(t, s, "scans/b/1.jpg", photo)
	u := signedURL(t, s, "scans/a/1.jpg", time.Minute)
	q := u.Query()
	exp, sig := q.Get("expires"), q.Get("sig")
	expN, _ := strconv.ParseInt(exp, 10, 64)

	other, err := blobfs.New(t.TempDir(), []byte("another-secret-of-32-bytes-or-so"), "http://blobs.test")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherSigned := signedURL(t, other, "scans/a/1.jpg", time.Minute)

	flipped := []byte(sig)
	flipped[3] ^= 1
	path := u.EscapedPath()
	for name, target := range map[string]string{
		"another key":                 "/blobs/scans/b/1.jpg?" + u.RawQuery,
		"upper-case key":              "/blobs/SCANS/a/1.jpg?" + u.RawQuery,
		"one signature bit flipped":   path + "?expires=" + exp + "&sig=" + string(flipped),
		"truncated signature":         path + "?expires=" + exp + "&sig=" + sig[:len(sig)-1],
		"padded signature":            path + "?expires=" + exp + "&sig=" + sig + "=",
		"standard base64 signature":   path + "?expires=" + exp + "&sig=" + base64.StdEncoding.EncodeToString(mustDecode(t, sig)),
		"no signature":                path + "?expires=" + exp,
		"empty signature":             path + "?expires=" + exp + "&sig=",
		"two signatures":              path + "?expires=" + exp + "&sig=" + sig + "&sig=" + sig,
		"expiry extended":             path + "?expires=" + strconv.FormatInt(expN+3600, 10) + "&sig=" + sig,
		"expiry with a leading zero":  path + "?expires=0" + exp + "&sig=" + sig,
		"no expiry":                   path + "?sig=" + sig,
		"two expiries":                path + "?expires=" + exp + "&expires=" + exp + "&sig=" + sig,
		"signed with another secret":  path + "?" + otherSigned.RawQuery,
		"no query":                    path,
		"malformed query":             path + "?expires=" + exp + "&sig=" + sig + "&%zz",
		"outside /blobs/":             "/scans/a/1.jpg?" + u.RawQuery,
		"prefix without the slash":    "/blobsscans/a/1.jpg?" + u.RawQuery,
		"a signature for another key": "/blobs/scans/b/1.jpg?expires=" + exp + "&sig=" + forge("scans/a/1.jpg", expN),
	} {
		rec := serve(s.Handler(), http.MethodGet, target, nil)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, rec.Code)
		}
	}
	// The untampered URL still works, so the 403s above are the tampering's doing.
	if rec := serve(s.Handler(), http.MethodGet, u.String(), nil); rec.Code != http.StatusOK {
		t.Fatalf("untampered url: status %d", rec.Code)
	}
}

func mustDecode(t *testing.T, sig string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandlerRejectsURLsFromTheirExpiryOn(t *testing.T) {
	s, clk := newClockedStore(t, "http://blobs.test")
	put(t, s, "a.jpg", blobtest.Photo(t, "room2-1.jpg"))
	u := signedURL(t, s, "a.jpg", time.Minute).String()

	clk.Advance(time.Minute - time.Nanosecond)
	if rec := serve(s.Handler(), http.MethodGet, u, nil); rec.Code != http.StatusOK {
		t.Fatalf("just before expiry: status %d, want 200", rec.Code)
	}
	clk.Advance(time.Nanosecond)
	if rec := serve(s.Handler(), http.MethodGet, u, nil); rec.Code != http.StatusForbidden {
		t.Fatalf("at expiry: status %d, want 403", rec.Code)
	}
}

// blobOutsideRoot opens a Store rooted at <tmp>/blobs, stores a photo and moves that
// genuine blobfs file to <tmp>/<dir>/secret.jpg: a file outside the root that would
// be served if a key reached it.
func blobOutsideRoot(t *testing.T, dir string) (s *blobfs.Store, root, secretFile string) {
	t.Helper()
	parent := t.TempDir()
	root = filepath.Join(parent, "blobs")
	s = newStore(t, root)
	put(t, s, "loot.jpg", blobtest.Photo(t, "room2-1.jpg"))
	outside := filepath.Join(parent, dir)
	if err := os.MkdirAll(outside, 0o750); err != nil {
		t.Fatal(err)
	}
	secretFile = filepath.Join(outside, "secret.jpg")
	if err := os.Rename(filepath.Join(root, "loot.jpg"), secretFile); err != nil {
		t.Fatal(err)
	}
	return s, root, secretFile
}

func TestTraversalNeverReachesFilesOutsideTheRoot(t *testing.T) {
	s, _, secretFile := blobOutsideRoot(t, "")
	parent := filepath.Dir(secretFile)
	put(t, s, "scans/a/1.jpg", blobtest.Photo(t, "room2-1.jpg"))

	expires := time.Now().Add(time.Hour).Unix()
	for _, raw := range []string{
		"../secret.jpg",
		"%2e%2e/secret.jpg",
		"%2E%2E%2Fsecret.jpg",
		"scans/a/..%2f..%2f..%2fsecret.jpg",
		"scans/a/1.jpg/../../../secret.jpg",
		"scans/../../secret.jpg",
		"/" + filepath.ToSlash(filepath.Join(parent, "secret.jpg")),
		"%2f" + strings.ReplaceAll(filepath.ToSlash(filepath.Join(parent, "secret.jpg")), "/", "%2f"),
		`..\secret.jpg`,
		"scans/a/%31.jpg", // an encoded "1": a real blob, but not a key as written
	} {
		// Signed correctly for the text after /blobs/, both as sent and decoded, so
		// only the key checks stand between the request and the file.
		decoded, _ := url.PathUnescape(raw)
		for _, signedKey := range []string{raw, decoded} {
			target := "/blobs/" + raw + "?expires=" + strconv.FormatInt(expires, 10) + "&sig=" + forge(signedKey, expires)
			req, err := http.NewRequest(http.MethodGet, "http://blobs.test"+target, nil)
			if err != nil {
				continue // not even a URL: no server would route it
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden {
				t.Errorf("GET /blobs/%s signed for %q: status %d, want 403", raw, signedKey, rec.Code)
			}
		}
	}

	for _, key := range []string{"../secret.jpg", filepath.Join(parent, "secret.jpg"), "scans/../../secret.jpg"} {
		_, _, err := s.Open(t.Context(), key)
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("Open %q: %v, want %s", key, err, domain.EINVALID)
		}
	}
}

func TestSymlinksInsideTheRootCannotLeadOutOfIt(t *testing.T) {
	s, root, secretFile := blobOutsideRoot(t, "outside")
	outside := filepath.Dir(secretFile)
	photo := blobtest.Photo(t, "room2-1.jpg")
	if err := os.Symlink(filepath.Join(outside, "secret.jpg"), filepath.Join(root, "evil.jpg")); err != nil {
		t.Skipf("cannot create symlinks here: %v", err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "evildir")); err != nil {
		t.Fatal(err)
	}

	for _, key := range []string{"evil.jpg", "evildir/secret.jpg"} {
		rc, _, err := s.Open(t.Context(), key)
		if err == nil {
			rc.Close()
			t.Errorf("Open %s followed a symlink out of the root", key)
		}
	}
	if err := s.DeletePrefix(t.Context(), "evildir/"); err != nil {
		t.Errorf("DeletePrefix evildir/: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "secret.jpg")); err != nil {
		t.Errorf("DeletePrefix through a symlink removed a file outside the root: %v", err)
	}
	if _, err := s.Put(t.Context(), "evildir/new.jpg", bytes.NewReader(photo), 1<<30); err == nil {
		t.Error("Put wrote through a symlink out of the root")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("outside directory has %d entries, want only the original file", len(entries))
	}
}

func TestHandlerServesUnderTheBaseURLPath(t *testing.T) {
	s, err := blobfs.New(t.TempDir(), secret, "http://blobs.test/api")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	photo := blobtest.Photo(t, "room2-1.jpg")
	put(t, s, "a.jpg", photo)
	u := signedURL(t, s, "a.jpg", time.Minute)
	if u.Path != "/api/blobs/a.jpg" {
		t.Fatalf("signed url path %q, want /api/blobs/a.jpg", u.Path)
	}
	rec := serve(s.Handler(), http.MethodGet, u.String(), nil)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK || !bytes.Equal(body, photo) {
		t.Errorf("GET %s: status %d", u, rec.Code)
	}
}
