package blobfs_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/scanledger/scanledger/adapters/blobfs"
	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

// BenchmarkPut measures Put end to end (hashing, writing, fsync, rename). B/op and
// allocs/op stay flat from 1 MB to 50 MB: Put streams and never holds a blob in memory.
func BenchmarkPut(b *testing.B) {
	photo := blobtest.Photo(b, "room1-1.jpeg")
	for _, bc := range []struct {
		name string
		size int64
		body func() io.Reader
	}{
		{"photo-1.1MB", int64(len(photo)), func() io.Reader { return bytes.NewReader(photo) }},
		{"synthetic-1MB", 1 << 20, func() io.Reader { return &blobtest.JPEGStream{N: 1 << 20} }},
		{"synthetic-50MB", 50 << 20, func() io.Reader { return &blobtest.JPEGStream{N: 50 << 20} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := blobfs.New(b.TempDir(), secret, "http://blobs.test")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetBytes(bc.size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Put(context.Background(), "scans/a/1.jpg", bc.body(), 1<<30); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPutDoesNotHoldTheBlobInMemory is the benchmark's claim as a test: a 64 MB upload
// allocates about what a 1 MB one does, far less than the blob itself.
func TestPutDoesNotHoldTheBlobInMemory(t *testing.T) {
	s := newStore(t, t.TempDir())
	allocated := func(n int64) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := s.Put(t.Context(), "big.jpg", &blobtest.JPEGStream{N: n}, 1<<30); err != nil {
			t.Fatalf("Put %d bytes: %v", n, err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := allocated(1<<20), allocated(64<<20)
	t.Logf("heap allocated by Put: 1 MB blob %d bytes, 64 MB blob %d bytes", small, large)
	if large > 1<<20 {
		t.Errorf("a 64 MB Put allocated %d bytes; it should stream through a fixed buffer", large)
	}
}
