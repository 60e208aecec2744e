package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/scanledger/scanledger/adapters/s3"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

// longSize is past the part size, so a Put of it takes the streaming path (multipart
// upload to a temporary key, then a copy) rather than a single PUT.
const longSize = 12 << 20

func TestConformance(t *testing.T) {
	cfg := newBucket(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t, cfg) })
}

func TestPutStoresTheSniffedTypeAndSHA256AsObjectMetadata(t *testing.T) {
	cfg := newBucket(t)
	s := newStore(t, cfg)
	photo := blobtest.Photo(t, "room1-1.jpeg")
	long := readStream(t, &blobtest.JPEGStream{N: longSize})
	for name, data := range map[string][]byte{"single put": photo, "streamed": long} {
		key := "scans/a/" + strings.ReplaceAll(name, " ", "-") + ".jpg"
		if _, err := s.Put(t.Context(), key, bytes.NewReader(data), 1<<30); err != nil {
			t.Fatalf("%s: Put: %v", name, err)
		}
		// What any S3 client (and the agents-service, through a signed URL) sees.
		oi, err := rawClient(t, cfg).StatObject(t.Context(), cfg.Bucket, key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("%s: StatObject: %v", name, err)
		}
		if oi.ContentType != "image/jpeg" {
			t.Errorf("%s: Content-Type %q, want image/jpeg", name, oi.ContentType)
		}
		if got, want := oi.Metadata.Get("X-Amz-Meta-Sha256"), sha256Hex(data); got != want {
			t.Errorf("%s: x-amz-meta-sha256 %q, want %q", name, got, want)
		}
		if oi.Size != int64(len(data)) {
			t.Errorf("%s: size %d, want %d", name, oi.Size, len(data))
		}
		_, info, err := s.Open(t.Context(), key)
		if err != nil {
			t.Fatalf("%s: Open: %v", name, err)
		}
		if want := (blob.Info{Key: key, ContentType: "image/jpeg", Size: int64(len(data)), SHA256: sha256Hex(data)}); info != want {
			t.Errorf("%s: Open info %+v, want %+v", name, info, want)
		}
	}
	requireNoLeftovers(t, cfg, "scans/a/single-put.jpg", "scans/a/streamed.jpg")
}

func TestAFailedStreamedReplaceKeepsThePreviousBlobAndLeavesNothingBehind(t *testing.T) {
	cfg := newBucket(t)
	s := newStore(t, cfg)
	photo := blobtest.Photo(t, "room2-1.jpg")
	const key = "scans/a/1.jpg"
	if _, err := s.Put(t.Context(), key, bytes.NewReader(photo), 1<<30); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// Every failure strikes after the first part has been uploaded.
	failures := map[string]func() error{
		"reader error": func() error {
			_, err := s.Put(t.Context(), key, &blobtest.JPEGStream{N: longSize, FailAt: 7 << 20, Fail: errors.New("connection reset by phone")}, 1<<30)
			return err
		},
		"too large": func() error {
			_, err := s.Put(t.Context(), key, &blobtest.JPEGStream{N: longSize}, 8<<20)
			if code := domain.ErrorCode(err); code != domain.ETOOLARGE {
				t.Errorf("too large: error %v (code %q), want %q", err, code, domain.ETOOLARGE)
			}
			return err
		},
		"cancelled": func() error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, err := s.Put(ctx, key, blobtest.CancelAfter(&blobtest.JPEGStream{N: longSize}, 7<<20, cancel), 1<<30)
			return err
		},
	}
	for name, fail := range failures {
		if err := fail(); err == nil {
			t.Fatalf("%s: Put succeeded", name)
		}
		if got := readAll(t, s, key); !bytes.Equal(got, photo) {
			t.Errorf("%s: the previous blob was changed (%d bytes, want %d)", name, len(got), len(photo))
		}
		requireNoLeftovers(t, cfg, key)
	}
}

func TestAStreamedPutOfExactlyMaxBytesSucceedsAndOneByteMoreIsTooLarge(t *testing.T) {
	cfg := newBucket(t)
	s := newStore(t, cfg)
	info, err := s.Put(t.Context(), "exact.jpg", &blobtest.JPEGStream{N: longSize}, longSize)
	if err != nil {
		t.Fatalf("Put of exactly maxBytes: %v", err)
	}
	if info.Size != longSize {
		t.Errorf("size %d, want %d", info.Size, longSize)
	}
	_, err = s.Put(t.Context(), "over.jpg", &blobtest.JPEGStream{N: longSize + 1}, longSize)
	if code := domain.ErrorCode(err); code != domain.ETOOLARGE {
		t.Errorf("Put of maxBytes+1: error %v (code %q), want %q", err, code, domain.ETOOLARGE)
	}
	requireNoLeftovers(t, cfg, "exact.jpg")
}

// TestPutStreamsLargeBlobsInBoundedMemory checks the claim of the package comment: the
// heap a Put holds does not grow with the blob. A 30 MiB upload peaks at about the heap
// of a 6 MiB one (both take the streaming path), far below its own size, and allocates
// less than itself in total (beyond the two part buffers, the request signer's garbage).
func TestPutStreamsLargeBlobsInBoundedMemory(t *testing.T) {
	cfg := newBucket(t)
	s := newStore(t, cfg)
	small := measurePut(t, s, 6<<20)
	large := measurePut(t, s, 30<<20)
	t.Logf("Put of 6 MiB: %v; Put of 30 MiB: %v", small, large)
	if large.peak > small.peak+4<<20 {
		t.Errorf("peak heap grew from %.1f MiB (6 MiB blob) to %.1f MiB (30 MiB blob); it should not grow with the blob",
			mib(small.peak), mib(large.peak))
	}
	if large.peak > 20<<20 || large.allocated > 30<<20 {
		t.Errorf("a 30 MiB Put peaked at %.1f MiB of heap and allocated %.1f MiB; it should stream through part-sized buffers",
			mib(large.peak), mib(large.allocated))
	}
	// The stored blob is the whole stream, checked by hash without holding it.
	rc, info, err := s.Open(t.Context(), "big.jpg")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	got, want := sha256.New(), sha256.New()
	if _, err := io.Copy(got, rc); err != nil {
		t.Fatalf("read: %v", err)
	}
	if _, err := io.Copy(want, &blobtest.JPEGStream{N: 30 << 20}); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got.Sum(nil)) != info.SHA256 || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("stored bytes hash to %x, info says %s, uploaded %x", got.Sum(nil), info.SHA256, want.Sum(nil))
	}
}

type putCost struct {
	allocated uint64 // bytes allocated during the Put, garbage included
	peak      uint64 // highest heap in use during the Put, above what was in use before
	elapsed   time.Duration
	size      int64
}

func (c putCost) String() string {
	return fmt.Sprintf("%.1f MiB allocated, peak heap +%.1f MiB, %.0f MB/s",
		mib(c.allocated), mib(c.peak), float64(c.size)/1e6/c.elapsed.Seconds())
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// measurePut puts n bytes while sampling the heap every millisecond. The collector runs
// almost continuously meanwhile (GOGC=1), so the peak is what the Put holds, not garbage
// it has not been asked to collect yet; runtime/metrics reads without stopping the world.
func measurePut(t *testing.T, s *s3.Store, n int64) putCost {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	read := func() (inUse, allocs uint64) {
		metrics.Read(sample)
		return sample[0].Value.Uint64(), sample[1].Value.Uint64()
	}
	runtime.GC()
	base, allocsBefore := read()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if inUse, _ := read(); inUse > max {
				max = inUse
			}
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	info, err := s.Put(t.Context(), "big.jpg", &blobtest.JPEGStream{N: n}, 1<<30)
	elapsed := time.Since(start)
	close(done)
	max := <-peak
	_, allocsAfter := read()
	if err != nil {
		t.Fatalf("Put %d bytes: %v", n, err)
	}
	if info.Size != n {
		t.Fatalf("Put %d bytes: size %d", n, info.Size)
	}
	return putCost{allocated: allocsAfter - allocsBefore, peak: max - min(max, base), elapsed: elapsed, size: n}
}

func TestSignedURLsAreSignedForThePublicEndpointsHost(t *testing.T) {
	cfg := newBucket(t)
	photo := blobtest.Photo(t, "room2-1.jpg")
	// "localhost" reaches the same server as the internal 127.0.0.1 endpoint, the way a
	// public host name reaches the server a container knows by its service name.
	_, port, _ := strings.Cut(cfg.Endpoint, ":")
	public := cfg
	public.PublicEndpoint = "http://localhost:" + port
	s := newStore(t, public)
	if _, err := s.Put(t.Context(), "scans/a/1.jpg", bytes.NewReader(photo), 1<<30); err != nil {
		t.Fatalf("Put: %v", err)
	}
	signed, err := s.SignedURL(t.Context(), "scans/a/1.jpg", time.Minute)
	if err != nil {
		t.Fatalf("SignedURL: %v", err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Host != "localhost:"+port || u.Path != "/"+cfg.Bucket+"/scans/a/1.jpg" {
		t.Fatalf("signed url %s, want http://localhost:%s/%s/scans/a/1.jpg?...", signed, port, cfg.Bucket)
	}
	if status, body, _ := blobtest.Get(t, signed); status != http.StatusOK || !bytes.Equal(body, photo) {
		t.Errorf("GET through the public host: status %d, %d bytes; want 200 and the photo", status, len(body))
	}
	// The signature covers the host: the same URL sent to another name of the server is
	// refused, which is why URLs must be signed for the host the fetcher uses.
	u.Host = cfg.Endpoint
	if status, _, _ := blobtest.Get(t, u.String()); status != http.StatusForbidden {
		t.Errorf("GET of a public url through the internal host: status %d, want 403", status)
	}
}

func TestSignedURLsFollowThePublicEndpointsSchemeAndAcceptItsBucketPath(t *testing.T) {
	cfg := newBucket(t)
	for _, public := range []string{"https://photos.example.com", "https://photos.example.com/", "https://photos.example.com/" + cfg.Bucket} {
		c := cfg
		c.PublicEndpoint = public
		s := newStore(t, c)
		signed, err := s.SignedURL(t.Context(), "scans/a/1.jpg", time.Hour)
		if err != nil {
			t.Fatalf("%s: SignedURL: %v", public, err)
		}
		want := "https://photos.example.com/" + cfg.Bucket + "/scans/a/1.jpg?"
		if !strings.HasPrefix(signed, want) {
			t.Errorf("public endpoint %s: signed url %s, want it to start with %s", public, signed, want)
		}
		q, _ := url.ParseQuery(signed[len(want):])
		if q.Get("X-Amz-Expires") != "3600" || !strings.Contains(q.Get("X-Amz-Credential"), "/us-east-1/s3/") {
			t.Errorf("public endpoint %s: query %v, want a SigV4 signature for us-east-1 expiring in 3600 s", public, q)
		}
	}
}

func TestSignedURLsAllowTTLsUpToSevenDaysRoundedUpToWholeSeconds(t *testing.T) {
	s := newStore(t, newBucket(t))
	for ttl, want := range map[time.Duration]string{
		time.Nanosecond:         "1",
		1500 * time.Millisecond: "2",
		7 * 24 * time.Hour:      "604800",
	} {
		signed, err := s.SignedURL(t.Context(), "a.jpg", ttl)
		if err != nil {
			t.Errorf("SignedURL with ttl %v: %v", ttl, err)
			continue
		}
		u, _ := url.Parse(signed)
		if got := u.Query().Get("X-Amz-Expires"); got != want {
			t.Errorf("ttl %v: X-Amz-Expires %s, want %s", ttl, got, want)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Second, 7*24*time.Hour + time.Second} {
		_, err := s.SignedURL(t.Context(), "a.jpg", ttl)
		if code := domain.ErrorCode(err); code != domain.EINVALID {
			t.Errorf("SignedURL with ttl %v: error %v (code %q), want %q", ttl, err, code, domain.EINVALID)
		}
	}
}

func TestPutWithANonPositiveLimitIsInvalid(t *testing.T) {
	cfg := newBucket(t)
	s := newStore(t, cfg)
	for _, limit := range []int64{0, -1} {
		_, err := s.Put(t.Context(), "a.jpg", bytes.NewReader(blobtest.Photo(t, "room2-1.jpg")), limit)
		if code := domain.ErrorCode(err); code != domain.EINVALID {
			t.Errorf("Put with maxBytes %d: error %v (code %q), want %q", limit, err, code, domain.EINVALID)
		}
	}
	requireNoLeftovers(t, cfg)
}

func TestOpenRefusesObjectsScanledgerDidNotWrite(t *testing.T) {
	cfg := newBucket(t)
	s := newStore(t, cfg)
	photo := blobtest.Photo(t, "room2-1.jpg")
	c := rawClient(t, cfg)
	for key, opts := range map[string]minio.PutObjectOptions{
		"no-hash.jpg":   {ContentType: "image/jpeg"},
		"bad-hash.jpg":  {ContentType: "image/jpeg", UserMetadata: map[string]string{"sha256": "not-a-hash"}},
		"html-type.jpg": {ContentType: "text/html", UserMetadata: map[string]string{"sha256": sha256Hex(photo)}},
	} {
		if _, err := c.PutObject(t.Context(), cfg.Bucket, key, bytes.NewReader(photo), int64(len(photo)), opts); err != nil {
			t.Fatalf("raw put %s: %v", key, err)
		}
		rc, _, err := s.Open(t.Context(), key)
		if err == nil {
			rc.Close()
			t.Errorf("Open %s: served an object Put did not write", key)
			continue
		}
		if code := domain.ErrorCode(err); code != domain.EINTERNAL {
			t.Errorf("Open %s: error %v (code %q), want %q", key, err, code, domain.EINTERNAL)
		}
	}
}

func TestNewCreatesAMissingBucketOnlyWhenAsked(t *testing.T) {
	cfg := newBucket(t)
	cfg.CreateBucket = false
	if err := cfg.Connect(t.Context()); err == nil {
		t.Fatal("Connect succeeded on a missing bucket without CreateBucket")
	}
	cfg.CreateBucket = true
	newStore(t, cfg)
	// Once it exists, New finds it either way.
	cfg.CreateBucket = false
	newStore(t, cfg)
	cfg.CreateBucket = true
	newStore(t, cfg)
}

func TestNewRefusesWrongCredentials(t *testing.T) {
	cfg := newBucket(t)
	newStore(t, cfg)
	cfg.SecretKey += "x"
	cfg.CreateBucket = false
	if err := cfg.Connect(t.Context()); err == nil {
		t.Fatal("Connect succeeded with a wrong secret key")
	}
}

func TestNewAcceptsTheOriginalsEndpointURLForm(t *testing.T) {
	cfg := newBucket(t)
	cfg.Endpoint = "http://" + cfg.Endpoint
	s := newStore(t, cfg)
	if _, err := s.Put(t.Context(), "a.jpg", bytes.NewReader(blobtest.Photo(t, "room2-1.jpg")), 1<<30); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func TestNewRefusesUnusableConfigs(t *testing.T) {
	valid := s3.Store{Endpoint: "127.0.0.1:1", Bucket: "photos", AccessKey: "a", SecretKey: "s"}
	for name, change := range map[string]func(*s3.Store){
		"no endpoint":                     func(c *s3.Store) { c.Endpoint = "" },
		"endpoint with a path":            func(c *s3.Store) { c.Endpoint = "http://127.0.0.1:1/photos" },
		"endpoint scheme contradicts ssl": func(c *s3.Store) { c.Endpoint = "https://127.0.0.1:1" },
		"endpoint with an odd scheme":     func(c *s3.Store) { c.Endpoint = "ftp://127.0.0.1:1" },
		"endpoint with a path, no scheme": func(c *s3.Store) { c.Endpoint = "127.0.0.1:1/photos" },
		"no bucket":                       func(c *s3.Store) { c.Bucket = "" },
		"invalid bucket name":             func(c *s3.Store) { c.Bucket = "Photos_Bucket" },
		"no access key":                   func(c *s3.Store) { c.AccessKey = "" },
		"no secret key":                   func(c *s3.Store) { c.SecretKey = "" },
		"public endpoint without scheme":  func(c *s3.Store) { c.PublicEndpoint = "photos.example.com" },
		"public endpoint, another path":   func(c *s3.Store) { c.PublicEndpoint = "https://photos.example.com/other" },
		"public endpoint with a query":    func(c *s3.Store) { c.PublicEndpoint = "https://photos.example.com?x=1" },
		"public endpoint with userinfo":   func(c *s3.Store) { c.PublicEndpoint = "https://u:p@photos.example.com" },
	} {
		cfg := valid
		change(&cfg)
		// Port 1 refuses connections: a config that got as far as dialling would fail
		// too, but with the wrong error; every one of these must fail before that.
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err := cfg.Connect(ctx)
		cancel()
		if err == nil || strings.Contains(err.Error(), "connect") || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Connect error %v, want a configuration error", name, err)
		}
	}
}

func readStream(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
