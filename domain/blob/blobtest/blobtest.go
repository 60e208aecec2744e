// Package blobtest is the conformance suite for blob.Store. Every adapter runs Run
// against a real backend, so a local directory and an S3 bucket keep the same promises
// and the rest of scanledger can rely on the port's doc comment alone.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
)

// Run runs the suite. newStore is called once per subtest, from parallel subtests; the
// stores it returns may share one backend (a directory, a bucket), because every subtest
// works under its own random key prefix. URLs from SignedURL must be fetchable with a
// plain HTTP GET from this process, so an adapter that serves its own URLs (blobfs)
// starts a server in newStore.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	photo := Photo(t, "room1-1.jpeg")
	photo2 := Photo(t, "room2-1.jpg")
	images := Images(t)
	const noLimit = 1 << 30

	t.Run("put and open round-trip phone photos with size, sha256 and type", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		for _, data := range [][]byte{photo, photo2} {
			key := ns + "scans/" + domain.NewID() + "/" + domain.NewID() + ".jpg"
			want := blob.Info{Key: key, ContentType: "image/jpeg", Size: int64(len(data)), SHA256: sha256Hex(data)}
			got, err := s.Put(t.Context(), key, bytes.NewReader(data), noLimit)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got != want {
				t.Errorf("Put info = %+v, want %+v", got, want)
			}
			requireBlob(t, s, key, data, want.ContentType)
		}
	})

	t.Run("accepts every image type and reports the sniffed type", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		for _, img := range images {
			key := ns + img.Name + ".img"
			info, err := s.Put(t.Context(), key, bytes.NewReader(img.Data), noLimit)
			if err != nil {
				t.Errorf("Put %s: %v", img.Name, err)
				continue
			}
			if info.ContentType != img.ContentType {
				t.Errorf("Put %s: content type %q, want %q", img.Name, info.ContentType, img.ContentType)
			}
			requireBlob(t, s, key, img.Data, img.ContentType)
		}
	})

	t.Run("rejects non-images as unsupported and stores nothing", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		for _, bad := range NonImages() {
			key := ns + bad.Name + ".jpg"
			_, err := s.Put(t.Context(), key, bytes.NewReader(bad.Data), noLimit)
			requireCode(t, "Put "+bad.Name, err, domain.EUNSUPPORTED)
			requireMissing(t, s, key)
		}
	})

	t.Run("rejects a blob over maxBytes as too large and stores nothing", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		// One byte over, and a limit smaller than the sniffing window, where a store
		// could be tempted to check the size only after it has read the head.
		for _, limit := range []int64{int64(len(photo)) - 1, 100} {
			key := fmt.Sprintf("%slimit-%d.jpg", ns, limit)
			_, err := s.Put(t.Context(), key, bytes.NewReader(photo), limit)
			requireCode(t, fmt.Sprintf("Put with maxBytes %d", limit), err, domain.ETOOLARGE)
			requireMissing(t, s, key)
		}
	})

	t.Run("accepts a blob of exactly maxBytes", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		key := ns + "exact.jpg"
		if _, err := s.Put(t.Context(), key, bytes.NewReader(photo), int64(len(photo))); err != nil {
			t.Fatalf("Put: %v", err)
		}
		requireBlob(t, s, key, photo, "image/jpeg")
	})

	// An upload cut off midway, by the client or by the caller, stores nothing.
	for _, c := range []struct {
		name, file, what string
		reader           func(cancel context.CancelFunc) io.Reader
	}{
		{"stores nothing when the reader fails midway", "broken.jpg", "Put of a failing reader", func(context.CancelFunc) io.Reader {
			return &failingReader{data: photo[:len(photo)/2], err: errors.New("connection reset by phone")}
		}},
		{"stores nothing when the context is cancelled midway", "cancelled.jpg", "Put whose context was cancelled midway", func(cancel context.CancelFunc) io.Reader {
			return CancelAfter(bytes.NewReader(photo), int64(len(photo)/2), cancel)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, ns := newStore(t), namespace(t)
			key := ns + c.file
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if _, err := s.Put(ctx, key, c.reader(cancel), noLimit); err == nil {
				t.Fatalf("%s succeeded", c.what)
			}
			requireMissing(t, s, key)
		})
	}

	t.Run("putting an existing key replaces it", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		key := ns + "replaced.img"
		mustPut(t, s, key, photo)
		png := sampleNamed(t, images, "png")
		info, err := s.Put(t.Context(), key, bytes.NewReader(png.Data), noLimit)
		if err != nil {
			t.Fatalf("replace: %v", err)
		}
		if info.SHA256 != sha256Hex(png.Data) || info.Size != int64(len(png.Data)) {
			t.Errorf("replace info = %+v, want the new blob's size and sha256", info)
		}
		requireBlob(t, s, key, png.Data, png.ContentType)
	})

	t.Run("a failed replace leaves the previous blob intact", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		key := ns + "kept.jpg"
		mustPut(t, s, key, photo2)
		failures := map[string]func() error{
			"unsupported": func() error {
				_, err := s.Put(t.Context(), key, strings.NewReader("<svg/>"), noLimit)
				return err
			},
			"too large": func() error {
				_, err := s.Put(t.Context(), key, bytes.NewReader(photo), int64(len(photo))-1)
				return err
			},
			"reader error": func() error {
				r := &failingReader{data: photo[:len(photo)/2], err: errors.New("boom")}
				_, err := s.Put(t.Context(), key, r, noLimit)
				return err
			},
		}
		for name, fail := range failures {
			if err := fail(); err == nil {
				t.Fatalf("%s: Put succeeded", name)
			}
			requireBlob(t, s, key, photo2, "image/jpeg")
		}
	})

	t.Run("open of a missing key is not found", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		mustPut(t, s, ns+"scans/a/1.jpg", photo2)
		requireMissing(t, s, ns+"scans/a/2.jpg")
		// Prefixes of stored keys are directories in some stores, never blobs.
		requireMissing(t, s, ns+"scans/a")
		requireMissing(t, s, ns+"scans")
		// A path through an existing blob, as if it were a directory.
		requireMissing(t, s, ns+"scans/a/1.jpg/x.jpg")
	})

	t.Run("rejects invalid keys and prefixes as invalid", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		valid := ns + "ok.jpg"
		mustPut(t, s, valid, photo2)
		for _, key := range invalidKeys(ns) {
			_, err := s.Put(t.Context(), key, bytes.NewReader(photo2), noLimit)
			requireCode(t, fmt.Sprintf("Put %q", key), err, domain.EINVALID)
			_, _, err = s.Open(t.Context(), key)
			requireCode(t, fmt.Sprintf("Open %q", key), err, domain.EINVALID)
			_, err = s.SignedURL(t.Context(), key, time.Minute)
			requireCode(t, fmt.Sprintf("SignedURL %q", key), err, domain.EINVALID)
		}
		for _, prefix := range []string{"", "/", ns[:len(ns)-1], "../", ns + "..", ns + "a//", "/" + ns, ns + "A/"} {
			err := s.DeletePrefix(t.Context(), prefix)
			requireCode(t, fmt.Sprintf("DeletePrefix %q", prefix), err, domain.EINVALID)
		}
		requireBlob(t, s, valid, photo2, "image/jpeg")
	})

	t.Run("delete prefix removes exactly the blobs under it", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		gone := []string{ns + "scans/a/1.jpg", ns + "scans/a/2.jpg", ns + "scans/a/rooms/3.jpg"}
		// Keys that share the prefix's characters but not its whole segment survive.
		kept := []string{ns + "scans/ab/4.jpg", ns + "scans/a.jpg", ns + "scans/b/5.jpg", ns + "scans/b/a/6.jpg"}
		for _, key := range append(append([]string{}, gone...), kept...) {
			mustPut(t, s, key, photo2)
		}
		if err := s.DeletePrefix(t.Context(), ns+"scans/a/"); err != nil {
			t.Fatalf("DeletePrefix: %v", err)
		}
		for _, key := range gone {
			requireMissing(t, s, key)
		}
		for _, key := range kept {
			requireBlob(t, s, key, photo2, "image/jpeg")
		}
		// A blob is not under a prefix made of its own key.
		if err := s.DeletePrefix(t.Context(), ns+"scans/a.jpg/"); err != nil {
			t.Fatalf("DeletePrefix of a blob's key: %v", err)
		}
		requireBlob(t, s, ns+"scans/a.jpg", photo2, "image/jpeg")
		// Deleting nothing is not an error.
		if err := s.DeletePrefix(t.Context(), ns+"scans/a/"); err != nil {
			t.Errorf("DeletePrefix again: %v", err)
		}
		if err := s.DeletePrefix(t.Context(), ns+"never/used/"); err != nil {
			t.Errorf("DeletePrefix of an unused prefix: %v", err)
		}
	})

	t.Run("list reports exactly the blobs under a prefix with their write time", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		// Stores may keep whole seconds; allow for that and for a clock a little apart.
		before := time.Now().Add(-2 * time.Second)
		under := []string{ns + "scans/a/u1/1.jpg", ns + "scans/a/u1/2.jpg", ns + "scans/a/u2/3.jpg"}
		over := []string{ns + "scans/ab/u1/4.jpg", ns + "scans/a.jpg"}
		for _, key := range append(append([]string{}, under...), over...) {
			mustPut(t, s, key, photo2)
		}
		after := time.Now().Add(2 * time.Second)
		got := map[string]time.Time{}
		err := s.List(t.Context(), ns+"scans/a/", func(e blob.Entry) error {
			if e.Partial {
				t.Errorf("List reported a partial %q after Puts that all finished", e.Key)
			}
			if _, dup := got[e.Key]; dup {
				t.Errorf("List reported %q twice", e.Key)
			}
			got[e.Key] = e.ModTime
			return nil
		})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(got) != len(under) {
			t.Errorf("List reported %v, want exactly %v", got, under)
		}
		for _, key := range under {
			mt, ok := got[key]
			if !ok {
				t.Errorf("List missed %q", key)
				continue
			}
			if mt.Before(before) || mt.After(after) {
				t.Errorf("List: %q written at %v, want between %v and %v", key, mt, before, after)
			}
		}

		// An unused prefix lists nothing, without error; an invalid one is refused.
		err = s.List(t.Context(), ns+"never/used/", func(e blob.Entry) error {
			t.Errorf("List of an unused prefix reported %q", e.Key)
			return nil
		})
		if err != nil {
			t.Errorf("List of an unused prefix: %v", err)
		}
		for _, prefix := range []string{"", "/", ns[:len(ns)-1], "../", ns + "a//"} {
			err := s.List(t.Context(), prefix, func(blob.Entry) error { return nil })
			requireCode(t, fmt.Sprintf("List %q", prefix), err, domain.EINVALID)
		}

		// fn's error stops the listing and comes back unchanged.
		stop := errors.New("stop")
		calls := 0
		err = s.List(t.Context(), ns+"scans/", func(blob.Entry) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("List stopped by fn: err %v after %d calls, want %v after 1", err, calls, stop)
		}
	})

	t.Run("a signed url serves the bytes and content type to a plain GET", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		for _, img := range append(images, Sample{"photo", "image/jpeg", photo}) {
			key := ns + "signed/" + img.Name + ".img"
			mustPut(t, s, key, img.Data)
			u, err := s.SignedURL(t.Context(), key, time.Minute)
			if err != nil {
				t.Fatalf("SignedURL: %v", err)
			}
			status, body, ctype := Get(t, u)
			if status != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", img.Name, status)
			}
			if !bytes.Equal(body, img.Data) {
				t.Errorf("GET %s: %d bytes differ from the %d stored", img.Name, len(body), len(img.Data))
			}
			if ctype != img.ContentType {
				t.Errorf("GET %s: Content-Type %q, want %q", img.Name, ctype, img.ContentType)
			}
		}
	})

	t.Run("a signed url for one key does not open another", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		a, b := ns+"scans/a/1.jpg", ns+"scans/b/1.jpg"
		mustPut(t, s, a, photo2)
		mustPut(t, s, b, photo)
		u, err := s.SignedURL(t.Context(), a, time.Minute)
		if err != nil {
			t.Fatalf("SignedURL: %v", err)
		}
		if !strings.Contains(u, a) {
			t.Fatalf("signed url %q does not name its key in the path", u)
		}
		forged := strings.Replace(u, a, b, 1)
		if status, _, _ := Get(t, forged); status != http.StatusForbidden {
			t.Errorf("GET with another key in a signed url: status %d, want 403", status)
		}
	})

	t.Run("a signed url stops working after its ttl", func(t *testing.T) {
		t.Parallel()
		s, ns := newStore(t), namespace(t)
		key := ns + "short-lived.jpg"
		mustPut(t, s, key, photo2)
		const ttl = 3 * time.Second
		start := time.Now()
		u, err := s.SignedURL(t.Context(), key, ttl)
		if err != nil {
			t.Fatalf("SignedURL: %v", err)
		}
		if status, _, _ := Get(t, u); status != http.StatusOK {
			t.Fatalf("fresh url: status %d, want 200", status)
		}
		// Expiry is checked by polling rather than by one sleep, so the test ends as soon
		// as the URL dies. Stores may round expiry to whole seconds (S3 signs a date in
		// seconds), so dying up to one second early is tolerated, and a generous margin
		// after the ttl absorbs slow machines.
		for {
			time.Sleep(200 * time.Millisecond)
			status, _, _ := Get(t, u)
			elapsed := time.Since(start)
			if status == http.StatusOK {
				if elapsed > ttl+10*time.Second {
					t.Fatalf("url still works %v after a ttl of %v", elapsed.Round(time.Millisecond), ttl)
				}
				continue
			}
			if status != http.StatusForbidden {
				t.Fatalf("expired url: status %d, want 403", status)
			}
			if elapsed < ttl-time.Second {
				t.Fatalf("url died after %v, before its ttl of %v", elapsed.Round(time.Millisecond), ttl)
			}
			return
		}
	})
}

// namespace returns a random key prefix so subtests sharing a backend never meet.
func namespace(t *testing.T) string {
	t.Helper()
	return "conformance-" + strings.ToLower(rand.Text()[:12]) + "/"
}

func sampleNamed(t *testing.T, samples []Sample, name string) Sample {
	t.Helper()
	for _, s := range samples {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sample named %q", name)
	return Sample{}
}

func invalidKeys(ns string) []string {
	return []string{
		"",
		"/" + ns + "a.jpg",
		ns + "a.jpg/",
		ns + "a//b.jpg",
		"../" + ns + "a.jpg",
		ns + "../a.jpg",
		ns + "a/../b.jpg",
		ns + "./a.jpg",
		ns + "..",
		ns + ".hidden.jpg",
		ns + "a.",
		ns + "A.jpg",
		ns + "a b.jpg",
		ns + "a\\b.jpg",
		ns + "a%2e%2e.jpg",
		ns + "a\x00.jpg",
		ns + "é.jpg",
		"/etc/passwd",
		"C:/windows/a.jpg",
		ns + strings.Repeat("a", blob.MaxKeyLen) + ".jpg",
	}
}

func mustPut(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, bytes.NewReader(data), 1<<30); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

// requireBlob checks that key holds exactly data, through Open's reader and its info.
func requireBlob(t *testing.T, s blob.Store, key string, data []byte, contentType string) {
	t.Helper()
	rc, info, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	got, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("Open %s: %d bytes differ from the %d put", key, len(got), len(data))
	}
	want := blob.Info{Key: key, ContentType: contentType, Size: int64(len(data)), SHA256: sha256Hex(data)}
	if info != want {
		t.Errorf("Open %s: info %+v, want %+v", key, info, want)
	}
}

func requireMissing(t *testing.T, s blob.Store, key string) {
	t.Helper()
	rc, _, err := s.Open(t.Context(), key)
	if err == nil {
		rc.Close()
	}
	requireCode(t, "Open "+key, err, domain.ENOTFOUND)
}

func requireCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// Get fetches u with no credentials of any kind, as the browser and the agents-service do.
func Get(t *testing.T, u string) (status int, body []byte, contentType string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", u, err)
	}
	return resp.StatusCode, body, resp.Header.Get("Content-Type")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// failingReader yields data, then err instead of EOF: an upload cut off midway.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
