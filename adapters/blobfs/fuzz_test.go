package blobfs_test

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

// FuzzSignedURL sends arbitrary request targets to Handler, seeded with a valid URL for
// key A and mutations of it. The store holds A and B but only A was ever signed, so the
// handler may answer 200 only with A's bytes, and only for A's path; it must never
// panic. The clock is fixed so the seeded URL stays valid in the stored corpus.
func FuzzSignedURL(f *testing.F) {
	const keyA, keyB = "scans/a/1.jpg", "scans/b/1.jpg"
	s, _ := newClockedStore(f, "http://blobs.test")
	photoA := blobtest.Photo(f, "room2-1.jpg")
	photoB := blobtest.Photo(f, "room1-1.jpeg")
	for key, data := range map[string][]byte{keyA: photoA, keyB: photoB} {
		if _, err := s.Put(f.Context(), key, bytes.NewReader(data), 1<<30); err != nil {
			f.Fatal(err)
		}
	}
	raw, err := s.SignedURL(f.Context(), keyA, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		f.Fatal(err)
	}
	valid := u.RequestURI()
	for _, seed := range []string{
		valid,
		strings.Replace(valid, keyA, keyB, 1),
		strings.Replace(valid, "/blobs/", "/blobs/../", 1),
		strings.Replace(valid, "scans/a", "scans/%61", 1),
		strings.Replace(valid, "sig=", "sig=x", 1),
		strings.Replace(valid, "expires=", "expires=1", 1),
		valid + "&sig=x",
		"/blobs/" + keyB,
		"/blobs/%2e%2e/%2e%2e/etc/passwd?expires=9999999999&sig=AAAA",
	} {
		f.Add(seed)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: blobs.test\r\n\r\n")))
		if err != nil {
			return // the server would have refused it before any handler ran
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !bytes.Equal(rec.Body.Bytes(), photoA) {
				t.Fatalf("%q served %d bytes that are not blob A", target, rec.Body.Len())
			}
			if req.URL.EscapedPath() != "/blobs/"+keyA {
				t.Fatalf("%q served blob A from another path", target)
			}
		case http.StatusForbidden:
		default:
			t.Fatalf("%q: unexpected status %d", target, rec.Code)
		}
	})
}
