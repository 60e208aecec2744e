package s3_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/s3"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

// fakeS3 answers the few S3 requests a Put makes, records them, and drops connections on
// demand. It exists only for what a real server cannot be made to do on cue (a network
// drop in the middle of a part) and for counting requests; everything else is tested
// against versitygw.
type fakeS3 struct {
	// drop reports whether to cut the connection of this attempt to upload a part,
	// after reading some of it.
	drop func(part, attempt int) bool

	mu       sync.Mutex
	log      []string      // "METHOD what key", in arrival order
	attempts map[int]int   // part number -> upload attempts
	copies   []http.Header // headers of server-side copies
	srv      *httptest.Server
	bucket   string
}

func newFakeS3(t *testing.T, drop func(part, attempt int) bool) (*fakeS3, s3.Store) {
	t.Helper()
	f := &fakeS3{drop: drop, attempts: map[int]int{}, bucket: "photos"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f, s3.Store{
		Endpoint:  strings.TrimPrefix(f.srv.URL, "http://"),
		Bucket:    f.bucket,
		Region:    "us-east-1",
		AccessKey: "fake",
		SecretKey: "fake-secret",
	}
}

func (f *fakeS3) record(what string, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+what+" "+strings.TrimPrefix(r.URL.Path, "/"+f.bucket+"/"))
}

func (f *fakeS3) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeS3) copyHeaders() []http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]http.Header(nil), f.copies...)
}

func (f *fakeS3) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodHead && strings.Trim(r.URL.Path, "/") == f.bucket:
		f.record("bucket", r)
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.record("create-multipart", r)
		fmt.Fprintf(w, `<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>`, f.bucket, r.URL.Path)
	case r.Method == http.MethodPut && q.Has("partNumber"):
		part, _ := strconv.Atoi(q.Get("partNumber"))
		f.mu.Lock()
		f.attempts[part]++
		attempt := f.attempts[part]
		f.mu.Unlock()
		f.record("part-"+q.Get("partNumber"), r)
		if f.drop(part, attempt) {
			io.CopyN(io.Discard, r.Body, 1<<20)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", fmt.Sprintf(`"etag-%d"`, part))
	case r.Method == http.MethodPost && q.Has("uploadId"):
		io.Copy(io.Discard, r.Body)
		f.record("complete-multipart", r)
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>"etag-all"</ETag></CompleteMultipartUploadResult>`, f.bucket, r.URL.Path)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		f.record("abort-multipart", r)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		f.record("copy", r)
		f.mu.Lock()
		f.copies = append(f.copies, r.Header.Clone())
		f.mu.Unlock()
		fmt.Fprint(w, `<CopyObjectResult><ETag>"etag-copy"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>`)
	case r.Method == http.MethodPut:
		io.Copy(io.Discard, r.Body)
		f.record("put", r)
		w.Header().Set("ETag", `"etag-put"`)
	case r.Method == http.MethodDelete:
		f.record("delete", r)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.record("unexpected", r)
		http.Error(w, "not implemented by the fake", http.StatusNotImplemented)
	}
}

func TestAConnectionDroppedInEveryAttemptFailsThePutAsUnavailableAndPublishesNothing(t *testing.T) {
	t.Parallel()
	fake, cfg := newFakeS3(t, func(part, _ int) bool { return part == 2 })
	s := newStore(t, cfg)
	_, err := s.Put(t.Context(), "scans/a/1.jpg", &blobtest.JPEGStream{N: longSize}, 1<<30)
	if code := domain.ErrorCode(err); code != domain.EUNAVAILABLE {
		t.Errorf("Put: error %v (code %q), want %q", err, code, domain.EUNAVAILABLE)
	}
	log := fake.requestLog()
	for _, req := range log {
		if strings.Contains(req, "complete-multipart") || strings.Contains(req, "copy") || strings.Contains(req, "scans/a/1.jpg") {
			t.Errorf("a failed upload was published: %s", req)
		}
	}
	// minio-go aborts the multipart upload, so the server drops the parts it holds, and
	// Put removes the temporary key in case a completion had got through.
	if !contains(log, "DELETE abort-multipart .uploads/") || !contains(log, "DELETE delete .uploads/") {
		t.Errorf("requests %q: want an abort of the multipart upload and a delete of the temporary key", log)
	}
}

func TestAPartRetriedAfterADroppedConnectionIsHashedOnce(t *testing.T) {
	t.Parallel()
	fake, cfg := newFakeS3(t, func(part, attempt int) bool { return part == 2 && attempt == 1 })
	s := newStore(t, cfg)
	info, err := s.Put(t.Context(), "scans/a/1.jpg", &blobtest.JPEGStream{N: longSize}, 1<<30)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	h := sha256.New()
	io.Copy(h, &blobtest.JPEGStream{N: longSize})
	want := hex.EncodeToString(h.Sum(nil))
	if info.SHA256 != want || info.Size != longSize {
		t.Errorf("info %+v, want size %d and sha256 %s", info, longSize, want)
	}
	copies := fake.copyHeaders()
	if len(copies) != 1 {
		t.Fatalf("%d server-side copies, want 1 (requests: %q)", len(copies), fake.requestLog())
	}
	if got := copies[0].Get("X-Amz-Meta-Sha256"); got != want {
		t.Errorf("published with x-amz-meta-sha256 %q, want %q", got, want)
	}
	if got := copies[0].Get("X-Amz-Metadata-Directive"); got != "REPLACE" {
		t.Errorf("copy metadata directive %q, want REPLACE", got)
	}
	if got := copies[0].Get("Content-Type"); got != "image/jpeg" {
		t.Errorf("published with Content-Type %q, want image/jpeg", got)
	}
}

func TestSignedURLsAreSignedWithoutAnyRequestToTheServer(t *testing.T) {
	t.Parallel()
	fake, cfg := newFakeS3(t, func(int, int) bool { return false })
	for _, public := range []string{"", "https://photos.example.com"} {
		cfg.PublicEndpoint = public
		s := newStore(t, cfg)
		before := len(fake.requestLog())
		start := time.Now()
		if _, err := s.SignedURL(t.Context(), "scans/a/1.jpg", time.Hour); err != nil {
			t.Fatalf("SignedURL: %v", err)
		}
		if after := len(fake.requestLog()); after != before {
			t.Errorf("public endpoint %q: SignedURL made %d requests: %q", public, after-before, fake.requestLog()[before:])
		}
		t.Logf("public endpoint %q: signed in %v", public, time.Since(start))
	}
}

func contains(log []string, prefix string) bool {
	for _, l := range log {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
