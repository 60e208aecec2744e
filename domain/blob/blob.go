// Package blob defines the blob store port: where scan photos live. adapters/blobfs
// (a local directory) and adapters/s3 (any S3-compatible server) implement Store and pass
// the conformance suite in domain/blob/blobtest.
package blob

import (
	"context"
	"io"
	"time"
)

// Info describes a stored blob.
type Info struct {
	Key         string
	ContentType string // sniffed from the bytes, never taken from the client
	Size        int64
	SHA256      string // hex of the stored bytes
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
// SignedURL returns a URL that lets anyone holding it GET the blob until ttl passes,
// without other credentials (the agents-service and the browser fetch photos with it).
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
	DeletePrefix(ctx context.Context, prefix string) error
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}
