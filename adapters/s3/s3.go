// Package s3 is the server mode's blob store: photos are objects in one bucket of any
// S3-compatible server (AWS S3, MinIO, versitygw, ...), addressed path-style as the
// original backend did (forcePathStyle), and the browser and the agents-service fetch
// them through presigned GET URLs.
//
// Each blob is one object under its key, stored with the sniffed Content-Type (the
// agents-service drops images served with any other type) and its SHA-256 as user
// metadata (x-amz-meta-sha256). Both travel in the same request that publishes the bytes,
// so a reader never pairs new bytes with an old hash.
//
// # How Put publishes
//
// S3 cannot take a body of unknown length in one PUT, so an upload of unknown length is
// buffered a part at a time whatever the client does; Put reads the first part-sized
// chunk itself and then takes one of two paths:
//
//   - The body ended within the chunk (a typical phone photo, 1-5 MB): its size and
//     SHA-256 are known, so one PutObject writes bytes and metadata to the key. A PUT
//     replaces an object atomically or not at all, so a failed one leaves the previous
//     blob intact. This is also one request where a streaming upload would take three.
//   - The body is longer: it is streamed (PutObject with size -1, a multipart upload) to
//     a temporary key, because the SHA-256 is known only at the end and S3 fixes metadata
//     when an upload starts. A server-side CopyObject then publishes it under the key with
//     the metadata (atomic, like a PUT), and the temporary object is removed. Until the
//     copy, the previous blob is untouched; a failed upload is aborted by minio-go (with
//     a context of its own, so even a cancelled Put aborts), leaving no parts behind.
//
// Either way the heap a Put holds is bounded by the part size (5 MiB, S3's minimum),
// twice that on the streaming path (Put's chunk and minio-go's part buffer), whatever
// the blob's size.
//
// Temporary keys start with ".uploads/": a leading dot never starts a valid key
// (blob.ValidKey), so they cannot collide with a blob, Open never returns one, and no
// DeletePrefix reaches them. Put removes its temporary object on every path; only a
// crash, or a failed cleanup request (logged) or abort, leaves an object or an
// incomplete multipart upload behind. A lifecycle rule expiring ".uploads/" after a day,
// with AbortIncompleteMultipartUpload, collects those on servers that support lifecycle
// rules.
//
// One limit of any remote store: when a Put's context ends or the connection drops after
// the server committed the write but before its answer arrived, Put reports an error for
// a blob that was stored. What is stored is still consistent (bytes and hash from the same
// upload), and keys are chosen by scanledger, so a retried Put simply overwrites it.
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
)

const (
	// partSize is S3's minimum multipart part size, the least memory an upload of
	// unknown length can be buffered in. 10,000 parts of it (S3's maximum count) hold
	// 50 GB, far above maxObjectSize, so it never has to grow.
	partSize = 5 << 20

	// maxObjectSize caps every Put whatever maxBytes says: a long upload is published
	// with a single server-side CopyObject, which S3 limits to 5 GiB. Photos are
	// megabytes.
	maxObjectSize = 5 << 30

	// defaultRegion is what S3-compatible servers assume when none is configured; a
	// region is always set so presigning never has to ask the server for one.
	defaultRegion = "us-east-1"

	// tmpPrefix holds uploads that are not published yet; see the package comment.
	tmpPrefix = ".uploads/"

	// metaSHA256 is the user metadata key ("x-amz-meta-sha256") holding the hex SHA-256.
	metaSHA256 = "Sha256"

	// cleanupTimeout bounds the removal of a temporary object, which runs even when the
	// Put's own context has ended.
	cleanupTimeout = time.Minute

	// defaultPutTimeout is PutTimeout's default: ample for a photo of a few megabytes
	// to a reachable server, and short enough that an upload is refused (503) well
	// before its client gives up on an answer. Without it, minio-go retries a refused
	// connection ten times with up to a second of backoff each.
	defaultPutTimeout = 5 * time.Second

	// putMinRate is the slowest a store that works is assumed to take a put's bytes, in
	// bytes per second: a put may take PutTimeout plus its size at this rate, so that a
	// large photo over a slow or shared link is not taken for a store that is gone.
	putMinRate = 512 << 10
)

// Store is a blob.Store on an S3 bucket. Set the exported fields that say where the
// bucket is and how to reach it (Endpoint, Bucket, AccessKey and SecretKey are
// required; the others' zero values are the defaults), then Connect it. It is safe for
// concurrent use once connected.
type Store struct {
	// Endpoint is the S3 API as this process reaches it: "host[:port]" (minio-go's form,
	// TLS per UseSSL), or a URL "http(s)://host[:port]" (the original's STORAGE_ENDPOINT
	// form) whose scheme must then agree with UseSSL.
	Endpoint string
	Bucket   string
	// Region requests are signed for; "" means us-east-1.
	Region    string
	AccessKey string
	SecretKey string
	UseSSL    bool
	// PublicEndpoint is where browsers and the agents-service reach the same server,
	// when that differs from Endpoint (a Docker service name inside, a public host or a
	// reverse proxy outside): "http(s)://host[:port]". A path of "/" + Bucket is accepted
	// (the original's STORAGE_PUBLIC_URL form); any other path is refused, because the
	// signature covers the path and a proxy rewriting it would break every URL. ""
	// means URLs point at Endpoint.
	PublicEndpoint string
	// CreateBucket makes Connect create the bucket when it is missing (development, tests).
	// Otherwise a missing bucket fails Connect, at startup rather than at the first upload.
	CreateBucket bool
	// PutTimeout bounds a Put of a blob that fits in one request (up to 5 MiB), from
	// the moment its bytes are read, retries included, plus the time its size takes at
	// putMinRate. Past it the store counts as unavailable, so an upload is refused while
	// its client still waits for an answer, rather than held for a server that is gone
	// or hung. 0 means defaultPutTimeout.
	PutTimeout time.Duration
	// Logger receives failures that cannot be returned, such as a temporary object that
	// could not be removed after a successful Put. nil means slog.Default().
	Logger *slog.Logger

	client *minio.Client
	core   minio.Core
	// signer presigns URLs: a client for PublicEndpoint when one is configured, since a
	// SigV4 signature covers the Host header the fetcher will send.
	signer *minio.Client
}

// Connect connects to the server and checks that the bucket exists (creating it when
// CreateBucket is set). Credentials and reachability are checked here, so a
// misconfigured deployment fails at startup.
func (s *Store) Connect(ctx context.Context) error {
	host, secure, err := parseEndpoint(s.Endpoint, s.UseSSL)
	if err != nil {
		return fmt.Errorf("s3: endpoint: %w", err)
	}
	if err := s3utils.CheckValidBucketNameStrict(s.Bucket); err != nil {
		return fmt.Errorf("s3: bucket %q: %w", s.Bucket, err)
	}
	if s.AccessKey == "" || s.SecretKey == "" {
		return errors.New("s3: access key and secret key are required")
	}
	region := s.Region
	if region == "" {
		region = defaultRegion
	}
	newClient := func(host string, secure bool) (*minio.Client, error) {
		return minio.New(host, &minio.Options{
			Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
			Secure:       secure,
			Region:       region,
			BucketLookup: minio.BucketLookupPath,
		})
	}
	client, err := newClient(host, secure)
	if err != nil {
		return fmt.Errorf("s3: client: %w", err)
	}
	signer := client
	if s.PublicEndpoint != "" {
		pubHost, pubSecure, err := parsePublicEndpoint(s.PublicEndpoint, s.Bucket)
		if err != nil {
			return fmt.Errorf("s3: public endpoint: %w", err)
		}
		if signer, err = newClient(pubHost, pubSecure); err != nil {
			return fmt.Errorf("s3: public client: %w", err)
		}
	}
	if err := ensureBucket(ctx, client, s.Bucket, region, s.CreateBucket); err != nil {
		return err
	}
	s.client, s.core, s.signer = client, minio.Core{Client: client}, signer
	return nil
}

func (s *Store) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func parseEndpoint(endpoint string, useSSL bool) (host string, secure bool, err error) {
	if !strings.Contains(endpoint, "://") {
		u, err := url.Parse("//" + endpoint)
		if err != nil || endpoint == "" || u.Host != endpoint {
			return "", false, fmt.Errorf("%q: want host[:port] or http(s)://host[:port]", endpoint)
		}
		return endpoint, useSSL, nil
	}
	host, secure, path, err := parseBaseURL(endpoint)
	if err != nil {
		return "", false, err
	}
	if path != "" {
		return "", false, fmt.Errorf("%q: a path is not allowed", endpoint)
	}
	if secure != useSSL {
		return "", false, fmt.Errorf("%q: scheme disagrees with UseSSL=%t", endpoint, useSSL)
	}
	return host, secure, nil
}

func parsePublicEndpoint(endpoint, bucket string) (host string, secure bool, err error) {
	host, secure, path, err := parseBaseURL(endpoint)
	if err != nil {
		return "", false, err
	}
	if path != "" && path != "/"+bucket {
		return "", false, fmt.Errorf("%q: the only path allowed is /%s", endpoint, bucket)
	}
	return host, secure, nil
}

// parseBaseURL splits "http(s)://host[:port][/path]" and returns the path without a
// trailing slash.
func parseBaseURL(raw string) (host string, secure bool, path string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", false, "", fmt.Errorf("%q: want http(s)://host[:port]", raw)
	}
	return u.Host, u.Scheme == "https", strings.TrimSuffix(u.Path, "/"), nil
}

func ensureBucket(ctx context.Context, c *minio.Client, bucket, region string, create bool) error {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("s3: bucket %s: %w", bucket, classify(err))
	}
	if ok {
		return nil
	}
	if !create {
		return fmt.Errorf("s3: bucket %s does not exist", bucket)
	}
	err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region})
	// Another instance starting at the same time may have created it first.
	if code := errorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("s3: create bucket %s: %w", bucket, classify(err))
	}
	return nil
}

// Put implements blob.Store; the package comment explains how it publishes.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, fmt.Errorf("s3: put: %w", err)
	}
	if maxBytes <= 0 {
		return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, domain.Errorf(domain.EINVALID, "maxBytes %d is not positive", maxBytes))
	}
	limit := min(maxBytes, maxObjectSize)
	body := &hashingReader{r: blob.PutReader(ctx, r), left: limit, hash: sha256.New()}

	// A fresh buffer per Put, not a pooled one: net/http may still read a request body
	// after the round trip returns (see http.RoundTripper), so a recycled buffer could
	// be overwritten under a request that is still being sent.
	buf := make([]byte, partSize)

	n, err := io.ReadFull(body, buf[:blob.SniffLen])
	if err != nil && !isEOF(err) && !isTooLarge(err) {
		return blob.Info{}, fmt.Errorf("s3: put %s: read: %w", key, err)
	}
	// The type is judged before the size, as blobfs does, so a non-image is reported as
	// such even when it is also too large.
	contentType, ok := blob.Sniff(buf[:n])
	if !ok {
		return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, domain.Errorf(domain.EUNSUPPORTED, "only JPEG, PNG, WebP, GIF, BMP and TIFF images are accepted"))
	}
	if isTooLarge(err) {
		return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, tooLarge(limit))
	}
	if err == nil {
		var m int
		m, err = io.ReadFull(body, buf[n:])
		n += m
	}
	switch {
	case isEOF(err):
		return s.putWhole(ctx, key, buf[:n], contentType, body.sum())
	case err == nil:
		return s.putStream(ctx, key, io.MultiReader(bytes.NewReader(buf[:n]), body), body, contentType, limit)
	case isTooLarge(err):
		return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, tooLarge(limit))
	default:
		return blob.Info{}, fmt.Errorf("s3: put %s: read: %w", key, err)
	}
}

// putWhole writes a blob that fits in memory with one PUT, metadata included.
// Its bytes are in hand, so how long it takes is up to the store alone: PutTimeout
// bounds it, and running out of it means the store is unavailable, not that the caller
// gave up.
func (s *Store) putWhole(ctx context.Context, key string, data []byte, contentType, sum string) (blob.Info, error) {
	timeout := s.PutTimeout
	if timeout <= 0 {
		timeout = defaultPutTimeout
	}
	timeout += time.Duration(len(data)) * time.Second / putMinRate
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := s.client.PutObject(pctx, s.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType:      contentType,
		UserMetadata:     map[string]string{metaSHA256: sum},
		DisableMultipart: true,
	})
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		return blob.Info{}, fmt.Errorf("s3: put %s: %w: %w", key, domain.Errorf(domain.EUNAVAILABLE, "the blob store did not answer within %s", timeout), err)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, classify(err))
	}
	return blob.Info{Key: key, ContentType: contentType, Size: int64(len(data)), SHA256: sum}, nil
}

// putStream uploads r, whose hash and size body tracks, to a temporary key and copies it
// to key with its metadata once both are known.
func (s *Store) putStream(ctx context.Context, key string, r io.Reader, body *hashingReader, contentType string, limit int64) (blob.Info, error) {
	tmp := tmpPrefix + rand.Text()
	// Removed on every path, failures included: an upload whose completion reached the
	// server but whose answer was lost exists although PutObject failed.
	defer s.removeTemp(ctx, tmp)
	up, err := s.client.PutObject(ctx, s.Bucket, tmp, r, -1, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    partSize,
	})
	if err != nil {
		if isTooLarge(err) {
			return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, tooLarge(limit))
		}
		return blob.Info{}, fmt.Errorf("s3: put %s: upload: %w", key, classify(err))
	}
	if up.Size != body.n {
		return blob.Info{}, fmt.Errorf("s3: put %s: uploaded %d bytes of %d read", key, up.Size, body.n)
	}
	sum := body.sum()
	_, err = s.client.CopyObject(ctx, minio.CopyDestOptions{
		Bucket:          s.Bucket,
		Object:          key,
		ContentType:     contentType,
		UserMetadata:    map[string]string{metaSHA256: sum},
		ReplaceMetadata: true,
	}, minio.CopySrcOptions{
		Bucket: s.Bucket,
		Object: tmp,
		// Publish exactly the object this Put uploaded.
		MatchETag: up.ETag,
	})
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3: put %s: publish: %w", key, classify(err))
	}
	return blob.Info{Key: key, ContentType: contentType, Size: body.n, SHA256: sum}, nil
}

// removeTemp deletes a temporary object even when the Put's context has ended: the
// object is garbage either way.
func (s *Store) removeTemp(ctx context.Context, tmp string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.Bucket, tmp, minio.RemoveObjectOptions{}); err != nil {
		s.log().ErrorContext(ctx, "s3: remove temporary upload", "bucket", s.Bucket, "key", tmp, "err", err)
	}
}

func tooLarge(limit int64) error {
	return domain.Errorf(domain.ETOOLARGE, "the image is larger than %d bytes", limit)
}

// Open implements blob.Store. Bytes and info come from one GET, so they always describe
// the same version of a blob that is being replaced concurrently.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3: open: %w", err)
	}
	rc, oi, _, err := s.core.GetObject(ctx, s.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3: open %s: %w", key, classify(err))
	}
	sum := metadata(oi.UserMetadata, metaSHA256)
	// Like blobfs's trailer check: an object Put did not write (uploaded by hand, by
	// another tool) has no trustworthy hash or type, so it is refused rather than served.
	if !isSHA256Hex(sum) || blob.Ext(oi.ContentType) == "" {
		rc.Close()
		return nil, blob.Info{}, fmt.Errorf("s3: open %s: not written by scanledger (content type %q, sha256 %q)", key, oi.ContentType, sum)
	}
	return rc, blob.Info{Key: key, ContentType: oi.ContentType, Size: oi.Size, SHA256: sum}, nil
}

// metadata looks name up case-insensitively: servers differ in how they case metadata
// headers, and Go canonicalises them again.
func metadata(m map[string]string, name string) string {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// DeletePrefix implements blob.Store with a listing fed into multi-object deletes (1,000
// keys a request). Blobs put under prefix while it runs may survive.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("s3: delete: %w", err)
	}
	// Cancelling stops the listing's and the deletion's goroutines on every return.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listErr error
	objects := func(yield func(minio.ObjectInfo) bool) {
		for obj := range s.client.ListObjectsIter(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				listErr = obj.Err
				return
			}
			if !yield(obj) {
				return
			}
		}
	}
	results, err := s.client.RemoveObjectsWithIter(ctx, s.Bucket, objects, minio.RemoveObjectsOptions{})
	if err != nil {
		return fmt.Errorf("s3: delete %s: %w", prefix, classify(err))
	}
	for res := range results {
		if res.Err != nil {
			return fmt.Errorf("s3: delete %s: %s: %w", prefix, res.ObjectName, classify(res.Err))
		}
	}
	if listErr != nil {
		return fmt.Errorf("s3: delete %s: list: %w", prefix, classify(listErr))
	}
	if err := ctx.Err(); err != nil {
		// The iterators stop quietly when the context ends; that is not success.
		return fmt.Errorf("s3: delete %s: %w", prefix, err)
	}
	return nil
}

// List implements blob.Store with a recursive listing. S3 keeps no partials under a
// prefix: Put's temporaries live under ".uploads/" (see the package comment).
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Entry) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("s3: list: %w", err)
	}
	// Cancelling stops the listing's goroutine when fn ends the walk early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjectsIter(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("s3: list %s: %w", prefix, classify(obj.Err))
		}
		if err := fn(blob.Entry{Key: obj.Key, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		// The iterator stops quietly when the context ends; that is not success.
		return fmt.Errorf("s3: list %s: %w", prefix, err)
	}
	return nil
}

// SignedURL implements blob.Store with a presigned GET, signed locally (no request) for
// PublicEndpoint's host when one is configured. Like blobfs it does not check that the
// blob exists: a URL for a missing blob answers 404. ttl is rounded up to a whole second
// and may not exceed 7 days; S3 dates are in whole seconds, so a URL may die up to a
// second before ttl has passed.
func (s *Store) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := blob.CheckSign(key, ttl); err != nil {
		return "", fmt.Errorf("s3: sign: %w", err)
	}
	ttl = (ttl + time.Second - 1).Truncate(time.Second)
	u, err := s.signer.PresignedGetObject(ctx, s.Bucket, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("s3: sign %s: %w", key, err)
	}
	return u.String(), nil
}

// classify gives S3 failures the domain's codes: a missing key is not found, and a
// server that errs or cannot be reached is unavailable (try again), not a bug.
func classify(err error) error {
	resp := errorResponse(err)
	switch {
	case resp.Code == "NoSuchKey":
		return fmt.Errorf("%w: %w", domain.Errorf(domain.ENOTFOUND, "blob not found"), err)
	case resp.StatusCode >= 500, resp.Code == "SlowDown", isNetError(err):
		return fmt.Errorf("%w: %w", domain.Errorf(domain.EUNAVAILABLE, "the blob store is unavailable"), err)
	}
	return err
}

func errorResponse(err error) minio.ErrorResponse {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp
	}
	return minio.ErrorResponse{}
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }

// errTooLarge is what hashingReader fails with past its limit. It is a type rather than
// a variable so the package keeps no global state.
type errTooLarge struct{}

func (errTooLarge) Error() string { return "body exceeds the size limit" }

func isTooLarge(err error) bool { return errors.Is(err, errTooLarge{}) }

// hashingReader hashes and counts what passes through it and fails with errTooLarge as
// soon as more than left bytes arrive. Failing, rather than truncating the way
// io.LimitedReader does, is what makes minio-go abort a streaming upload that grows
// past the limit instead of completing it short.
type hashingReader struct {
	r    io.Reader
	left int64 // bytes still allowed
	n    int64 // bytes passed through
	hash hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// One byte beyond the allowance is requested, because only reading it tells a body
	// of exactly the limit from a longer one without trusting a declared length.
	if int64(len(p)) > h.left+1 {
		p = p[:h.left+1]
	}
	n, err := h.r.Read(p)
	if int64(n) > h.left {
		// The allowed bytes still count: Put sniffs them to tell a non-image from a
		// large image.
		n, err = int(h.left), errTooLarge{}
	}
	h.left -= int64(n)
	h.n += int64(n)
	h.hash.Write(p[:n])
	return n, err
}

func (h *hashingReader) sum() string { return hex.EncodeToString(h.hash.Sum(nil)) }
