package s3_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

// BenchmarkPut measures Put end to end against the test server: sniffing, hashing, the
// upload, and for the 30 MB blob the multipart upload, the server-side copy that
// publishes it and the removal of the temporary object. B/op stays near two part
// buffers (10 MiB) whatever the size.
func BenchmarkPut(b *testing.B) {
	photo := blobtest.Photo(b, "room1-1.jpeg")
	s := newStore(b, newBucket(b))
	for _, bc := range []struct {
		name string
		size int64
		body func() io.Reader
	}{
		{"photo-1.1MB", int64(len(photo)), func() io.Reader { return bytes.NewReader(photo) }},
		{"synthetic-30MB", 30 << 20, func() io.Reader { return &blobtest.JPEGStream{N: 30 << 20} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(bc.size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Put(b.Context(), "scans/a/1.jpg", bc.body(), 1<<30); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen measures reading the photo back through Open.
func BenchmarkOpen(b *testing.B) {
	photo := blobtest.Photo(b, "room1-1.jpeg")
	s := newStore(b, newBucket(b))
	if _, err := s.Put(b.Context(), "scans/a/1.jpg", bytes.NewReader(photo), 1<<30); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(photo)))
	b.ReportAllocs()
	for b.Loop() {
		rc, _, err := s.Open(b.Context(), "scans/a/1.jpg")
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
