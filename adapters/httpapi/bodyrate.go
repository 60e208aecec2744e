package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// minRate bounds how slowly a request body may arrive, the way Apache's mod_reqtimeout
// does (body=20,MinRate=500): a body has grace to start, and every byte received buys
// 1/rate seconds more. A stalled or trickling client is cut off with 408 and its
// connection closed, while a slow phone uploading a real photo (tens of kB/s, hundreds
// of times the minimum) is never bothered. Header timeouts are the http.Server's.
func (s *Server) minRate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			rc := http.NewResponseController(w)
			r.Body = &rateBody{rc: rc, body: r.Body, start: time.Now(), grace: s.BodyGrace, rate: s.BodyMinRate}
			defer rc.SetReadDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}

// rateBody moves the connection's read deadline forward as bytes arrive: by
// start + grace + received/rate the next byte must be in.
type rateBody struct {
	rc            *http.ResponseController
	body          io.ReadCloser
	start         time.Time
	grace         time.Duration
	rate          int64
	received      int64
	noDeadlineine bool // the connection does not support deadlines (HTTP/2 tests, hijacked)
}

func (b *rateBody) Read(p []byte) (int, error) {
	if !b.noDeadlineine {
		d := b.start.Add(b.grace + time.Duration(b.received)*time.Second/time.Duration(b.rate))
		if err := b.rc.SetReadDeadline(d); err != nil {
			b.noDeadlineine = true
		}
	}
	n, err := b.body.Read(p)
	b.received += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, domain.Errorf(domain.ETIMEOUT, "Request body arrived too slowly (at least %d bytes per second)", b.rate)
	}
	return n, err
}

func (b *rateBody) Close() error { return b.body.Close() }
