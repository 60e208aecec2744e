package blobtest

import (
	"context"
	"io"
)

// JPEGStream yields N bytes that sniff as a JPEG (the SOI marker, then filler) without
// holding them in memory, so that a large Put measures only the store's own
// allocations. Fail, when set, is returned instead of the bytes from offset FailAt on:
// an upload cut off midway.
type JPEGStream struct {
	N      int64
	FailAt int64
	Fail   error
	off    int64
}

func (r *JPEGStream) Read(p []byte) (int, error) {
	if r.Fail != nil && r.off >= r.FailAt {
		return 0, r.Fail
	}
	if r.off >= r.N {
		return 0, io.EOF
	}
	end := r.N
	if r.Fail != nil {
		end = min(end, r.FailAt)
	}
	p = p[:min(int64(len(p)), end-r.off)]
	for i := range p {
		switch r.off + int64(i) {
		case 0, 2:
			p[i] = 0xff
		case 1:
			p[i] = 0xd8
		default:
			p[i] = byte((r.off + int64(i)) * 7)
		}
	}
	r.off += int64(len(p))
	return len(p), nil
}

// CancelAfter returns r that calls cancel once n bytes have been read from it and keeps
// yielding, so that only the store's own context checks can stop the Put.
func CancelAfter(r io.Reader, n int64, cancel context.CancelFunc) io.Reader {
	return &cancelAfter{r: r, n: n, cancel: cancel}
}

type cancelAfter struct {
	r      io.Reader
	n      int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.n {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}
