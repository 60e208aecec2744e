// Package blobfs is the embedded mode's blob store: photos are files under one local
// directory, and the browser and the agents-service fetch them through URLs signed with
// an HMAC, served by Handler.
//
// Each blob is one file at <root>/<key>: the blob's bytes followed by a 40-byte trailer
// (the SHA-256 of those bytes and a magic string). Keeping the hash inside the file
// means one atomic rename publishes bytes and metadata together, so a reader can never
// pair new bytes with an old hash the way a sidecar file written by a second rename
// could, and a crash can never leave one without the other. Image viewers ignore
// trailing bytes, so the files still open as photos; the content type is sniffed again
// from the bytes on Open, so it needs no storage at all. Move blobs between stores
// through the blob.Store port, not by copying files, or the trailers travel along.
//
// All file access goes through an os.Root, so even a symbolic link planted inside the
// directory cannot lead a key outside it; keys are validated by blob.ValidKey first.
package blobfs

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
)

// MinSecretLen is the shortest signing secret New accepts: HMAC-SHA256 is only as
// strong as its key, and 32 random bytes match the hash's own strength.
const MinSecretLen = 32

// trailerMagic ends every blob file; Open refuses files without it rather than serve a
// file that blobfs did not write (a stray copy, a half-restored backup).
const trailerMagic = "slblob01"

const trailerLen = sha256.Size + len(trailerMagic)

// copyBufSize is Put's only buffer: memory per upload is constant, whatever its size.
const copyBufSize = 64 << 10

// Store is a blob.Store on a local directory. It is safe for concurrent use, including
// by several processes sharing the directory.
//
// Set its exported fields before use; their zero values are the defaults.
type Store struct {
	// Now is the clock signed URLs expire by; tests set it to expire URLs without
	// sleeping. nil means time.Now.
	Now func() time.Time
	// Logger is where Handler reports I/O failures it answers with a 500. nil means
	// slog.Default().
	Logger *slog.Logger

	root       *os.Root
	secret     []byte
	urlPrefix  string // baseURL + "/blobs/": SignedURL appends key and query
	pathPrefix string // the path part of urlPrefix: what Handler strips
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Store) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// New opens (creating if needed) a Store under the directory root. secret signs URLs; it
// must be at least MinSecretLen bytes and stay the same across restarts and across the
// processes sharing root, or URLs already handed out stop working. baseURL is where the
// binary serves Handler, as clients reach it (e.g. "http://127.0.0.1:8080"); signed URLs
// are baseURL + "/blobs/<key>?expires=...&sig=...".
func New(root string, secret []byte, baseURL string) (*Store, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("blobfs: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("blobfs: base url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("blobfs: base url %q: want http(s)://host[:port][/path]", baseURL)
	}
	if root == "" {
		return nil, errors.New("blobfs: empty root directory")
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("blobfs: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("blobfs: %w", err)
	}
	p := strings.TrimSuffix(u.EscapedPath(), "/") + "/blobs/"
	s := &Store{
		root:       r,
		secret:     append([]byte(nil), secret...), // the caller may reuse its slice
		urlPrefix:  u.Scheme + "://" + u.Host + p,
		pathPrefix: p,
	}
	return s, nil
}

// Close releases the root directory. Blobs already opened stay readable.
func (s *Store) Close() error { return s.root.Close() }

// Put implements blob.Store. The body goes to a temporary file beside its final name
// (same directory, so the rename is atomic), through a SHA-256 hasher, and is fsynced
// before the rename and the directory after it, so once Put returns the blob survives a
// power cut and until then nobody can see it. Any failure removes the temporary file.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put: %w", err)
	}
	if maxBytes <= 0 {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, domain.Errorf(domain.EINVALID, "maxBytes %d is not positive", maxBytes))
	}
	buf := make([]byte, copyBufSize)
	// Reading one byte past the limit is the only way to tell a body of exactly
	// maxBytes from a larger one without trusting a declared length.
	src := &io.LimitedReader{R: blob.PutReader(ctx, r), N: maxBytes}
	if maxBytes < math.MaxInt64 {
		src.N++
	}
	n, err := io.ReadFull(src, buf[:blob.SniffLen])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: read: %w", key, err)
	}
	head := buf[:n]
	contentType, ok := blob.Sniff(head)
	if !ok {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, domain.Errorf(domain.EUNSUPPORTED, "only JPEG, PNG, WebP, GIF, BMP and TIFF images are accepted"))
	}
	if int64(n) > maxBytes {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, tooLarge(maxBytes))
	}

	name := filepath.FromSlash(key)
	dir := filepath.Dir(name)
	if err := s.root.MkdirAll(dir, 0o750); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, classify(err))
	}
	// A leading dot can never start a valid key, so temporary files are invisible to
	// Open and cannot collide with a blob.
	tmp := filepath.Join(dir, ".tmp-"+rand.Text())
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, classify(err))
	}
	published := false
	defer func() {
		if !published {
			f.Close()
			s.root.Remove(tmp)
		}
	}()

	h := sha256.New()
	w := io.MultiWriter(h, f)
	if _, err := w.Write(head); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: write: %w", key, classify(err))
	}
	rest, err := io.CopyBuffer(w, src, buf)
	if err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, classify(err))
	}
	size := int64(n) + rest
	if size > maxBytes {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, tooLarge(maxBytes))
	}
	sum := h.Sum(nil)
	if _, err := f.Write(append(sum, trailerMagic...)); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: write: %w", key, classify(err))
	}
	if err := f.Sync(); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: sync: %w", key, classify(err))
	}
	if err := f.Close(); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: close: %w", key, classify(err))
	}
	if err := s.root.Rename(tmp, name); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: %w", key, classify(err))
	}
	published = true
	// The caller records the upload as an event once Put returns; the new directory
	// entry must be on disk by then or the event could outlive its photo.
	if err := s.syncDir(dir); err != nil {
		return blob.Info{}, fmt.Errorf("blobfs: put %s: sync dir: %w", key, err)
	}
	return blob.Info{Key: key, ContentType: contentType, Size: size, SHA256: hex.EncodeToString(sum)}, nil
}

func tooLarge(maxBytes int64) error {
	return domain.Errorf(domain.ETOOLARGE, "the image is larger than %d bytes", maxBytes)
}

// classify turns a path collision between a blob and a directory ("a.jpg" exists and
// "a.jpg/b.jpg" is put, or the reverse) into a conflict. S3 has no directories and would
// accept both; here they are one name, and the caller chose keys that cannot coexist.
func classify(err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %w", domain.Errorf(domain.ECONFLICT, "blob key collides with another blob's path"), err)
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", domain.Errorf(domain.ENOSPACE, "The photo store is full"), err)
	}
	return err
}

func (s *Store) syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be fsynced there; NTFS journals renames itself
	}
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open implements blob.Store. The returned reader also implements io.Seeker and
// io.ReaderAt, so it can be handed to http.ServeContent.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	b, err := s.open(ctx, key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	return b, b.info, nil
}

// blobFile is an open blob: its bytes without the trailer.
type blobFile struct {
	*io.SectionReader
	f       *os.File
	info    blob.Info
	modTime time.Time
}

func (b *blobFile) Close() error { return b.f.Close() }

func (s *Store) open(ctx context.Context, key string) (*blobFile, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, fmt.Errorf("blobfs: open: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blobfs: open %s: %w", key, err)
	}
	f, err := s.root.Open(filepath.FromSlash(key))
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("blobfs: open %s: %w", key, errNotFound())
		}
		return nil, fmt.Errorf("blobfs: open %s: %w", key, err)
	}
	b, err := readBlob(f, key)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

func readBlob(f *os.File, key string) (*blobFile, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("blobfs: open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		// A directory: a prefix of other keys, not a blob.
		return nil, fmt.Errorf("blobfs: open %s: %w", key, errNotFound())
	}
	size := fi.Size() - int64(trailerLen)
	var trailer [trailerLen]byte
	if size < 0 {
		return nil, fmt.Errorf("blobfs: open %s: not written by blobfs (too short)", key)
	}
	if _, err := f.ReadAt(trailer[:], size); err != nil {
		return nil, fmt.Errorf("blobfs: open %s: read trailer: %w", key, err)
	}
	if string(trailer[sha256.Size:]) != trailerMagic {
		return nil, fmt.Errorf("blobfs: open %s: not written by blobfs (no trailer)", key)
	}
	head := make([]byte, min(size, blob.SniffLen))
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("blobfs: open %s: read head: %w", key, err)
	}
	contentType, ok := blob.Sniff(head)
	if !ok {
		return nil, fmt.Errorf("blobfs: open %s: stored bytes are not an image", key)
	}
	return &blobFile{
		SectionReader: io.NewSectionReader(f, 0, size),
		f:             f,
		info: blob.Info{
			Key:         key,
			ContentType: contentType,
			Size:        size,
			SHA256:      hex.EncodeToString(trailer[:sha256.Size]),
		},
		modTime: fi.ModTime(),
	}, nil
}

// isNotExist also treats "a path component is a file" as missing: for key
// "a.jpg/b.jpg" with blob "a.jpg" stored, the blob simply does not exist.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func errNotFound() error { return domain.Errorf(domain.ENOTFOUND, "blob not found") }

// DeletePrefix implements blob.Store. A prefix is a whole directory, because
// blob.ValidPrefix requires it to end at a segment boundary.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("blobfs: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blobfs: delete %s: %w", prefix, err)
	}
	dir := filepath.FromSlash(strings.TrimSuffix(prefix, "/"))
	fi, err := s.root.Lstat(dir)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blobfs: delete %s: %w", prefix, err)
	}
	if !fi.IsDir() {
		return nil // blob "scans/a" is not under "scans/a/"
	}
	if err := s.root.RemoveAll(dir); err != nil {
		return fmt.Errorf("blobfs: delete %s: %w", prefix, err)
	}
	return nil
}

// List implements blob.Store by walking the prefix's directory. Temporary files of Puts
// that never finished (".tmp-*") are reported as partials; the walk never follows a
// symbolic link, so it stays inside the root.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Entry) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("blobfs: list: %w", err)
	}
	dir := strings.TrimSuffix(prefix, "/")
	err := fs.WalkDir(s.root.FS(), dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == dir && isNotExist(err) {
				return fs.SkipAll // nothing stored under prefix
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if isNotExist(err) {
			return nil // removed since the directory was read
		}
		if err != nil {
			return err
		}
		return fn(blob.Entry{Key: name, ModTime: fi.ModTime(), Partial: strings.HasPrefix(d.Name(), ".tmp-")})
	})
	if err != nil {
		return fmt.Errorf("blobfs: list %s: %w", prefix, err)
	}
	return nil
}

// SignedURL implements blob.Store. It does not check that the blob exists (neither does
// S3 presigning): a URL for a missing blob answers 404. ttl is rounded up to a whole
// second and may not exceed 7 days.
func (s *Store) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := blob.CheckSign(key, ttl); err != nil {
		return "", fmt.Errorf("blobfs: sign: %w", err)
	}
	expires := strconv.FormatInt(s.now().Add(ttl+time.Second-time.Nanosecond).Unix(), 10)
	return s.urlPrefix + key + "?expires=" + expires + "&sig=" + s.sign(key, expires), nil
}

func (s *Store) sign(key, expires string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(key, expires))
}

// mac authenticates the key and the expiry exactly as they appear in the URL. A newline
// cannot occur in a valid key, so no two (key, expires) pairs share a message.
func (s *Store) mac(key, expires string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(key))
	m.Write([]byte{'\n'})
	m.Write([]byte(expires))
	return m.Sum(nil)
}

// Handler serves GET and HEAD for the URLs SignedURL returns: the path of baseURL
// followed by /blobs/<key> (mount it there, e.g. mux.Handle("/blobs/", h), without
// stripping the prefix). A missing, malformed, tampered or expired signature is 403; a
// correctly signed URL for a missing blob is 404, so only holders of a URL learn
// whether its blob exists. Range and conditional requests work (ETag is the SHA-256).
func (s *Store) Handler() http.Handler { return http.HandlerFunc(s.serveBlob) }

func (s *Store) serveBlob(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed)
		return
	}
	key, expires, ok := s.authorize(r)
	if !ok {
		fail(w, http.StatusForbidden)
		return
	}
	b, err := s.open(r.Context(), key)
	if err != nil {
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			fail(w, http.StatusNotFound)
			return
		}
		s.log().ErrorContext(r.Context(), "serve blob", "key", key, "err", err)
		fail(w, http.StatusInternalServerError)
		return
	}
	defer b.Close()
	h := w.Header()
	h.Set("Content-Type", b.info.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	// Caches may keep the photo only while the URL itself is valid, and only in the
	// holder's own browser.
	maxAge := max(0, int64(expires.Sub(s.now())/time.Second))
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(maxAge, 10))
	h.Set("ETag", `"`+b.info.SHA256+`"`)
	http.ServeContent(w, r, "", b.modTime, b.SectionReader)
}

// authorize returns the key a request may read and when its permission ends. The key is
// taken from the escaped path, so any percent-encoding (of "/" or ".") makes it invalid
// rather than decoding into something else.
func (s *Store) authorize(r *http.Request) (key string, expires time.Time, ok bool) {
	key, found := strings.CutPrefix(r.URL.EscapedPath(), s.pathPrefix)
	if !found || blob.ValidKey(key) != nil {
		return "", time.Time{}, false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q["expires"]) != 1 || len(q["sig"]) != 1 {
		return "", time.Time{}, false
	}
	exp, sig := q.Get("expires"), q.Get("sig")
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(key, exp)) {
		return "", time.Time{}, false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	expires = time.Unix(unix, 0)
	if !s.now().Before(expires) {
		return "", time.Time{}, false
	}
	return key, expires, true
}

// fail answers with a bare status that no cache keeps: a 404 must not outlive the
// upload that fixes it.
func fail(w http.ResponseWriter, status int) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status), status)
}
