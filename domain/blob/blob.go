// Package blob defines the blob store port: where scan photos live. adapters/blobfs
// (a local directory) and adapters/s3 (any S3-compatible server) implement Store and pass
// the conformance suite in domain/blob/blobtest.
package blob

import (
	"context"
	"io"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// Info describes a stored blob.
type Info struct {
	Key         string
	ContentType string // sniffed from the bytes, never taken from the client
	Size        int64
	SHA256      string // hex of the stored bytes
}

// Entry is what List reports of one stored object.
type Entry struct {
	// Key is the blob's key, or for a partial the "/"-separated path of the leftover.
	Key string
	// ModTime is when the object was last written.
	ModTime time.Time
	// Partial marks the leftover of a Put that never finished (a crash mid-write): it
	// is no blob, Open cannot see it, and only DeletePrefix removes it.
	Partial bool
}

// Store is the blob store port.
//
// Put streams r into key without buffering it whole, computing its SHA-256 and size. It
// sniffs the content type from the first bytes and accepts only images (see Sniff):
// anything else is a domain.EUNSUPPORTED error and nothing is stored. More than maxBytes
// bytes is a domain.ETOOLARGE error and nothing is stored. Keys are chosen by scanledger
// (never from client file names) and must satisfy ValidKey. Putting an existing key
// replaces it.
//
// Open returns the blob's bytes and info; a missing key is a domain.ENOTFOUND error.
//
// DeletePrefix removes every blob whose key starts with prefix (which must end in "/");
// removing nothing is not an error.
//
// List calls fn, in no particular order, for every blob whose key starts with prefix
// (validated as for DeletePrefix), and for the leftovers of unfinished Puts kept under
// it (Entry.Partial), until fn returns an error, which List returns. Blobs put while it
// runs may be missed. It lets a sweep find what a crash left behind.
//
// SignedURL returns a URL that lets anyone holding it GET the blob until ttl passes,
// without other credentials (the agents-service and the browser fetch photos with it).
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
	DeletePrefix(ctx context.Context, prefix string) error
	List(ctx context.Context, prefix string, fn func(Entry) error) error
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// MaxSignedTTL is the longest a signed URL may live: the longest expiry S3 presigning
// (SigV4) allows, so that a caller that works with one store works with every store.
const MaxSignedTTL = 7 * 24 * time.Hour

// CheckSign returns the domain.EINVALID error that every Store's SignedURL gives for a
// malformed key or a ttl outside (0, MaxSignedTTL].
func CheckSign(key string, ttl time.Duration) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if ttl <= 0 || ttl > MaxSignedTTL {
		return domain.Errorf(domain.EINVALID, "ttl %v of %s is outside (0, %v]", ttl, key, MaxSignedTTL)
	}
	return nil
}

// PutReader is r as every Store's Put reads it: once ctx is done it fails at its next
// read with ctx's error, so a cancelled upload neither keeps reading the client's body
// nor gets published.
func PutReader(ctx context.Context, r io.Reader) io.Reader { return putReader{ctx, r} }

type putReader struct {
	ctx context.Context
	r   io.Reader
}

func (p putReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	return p.r.Read(b)
}
