package s3_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

// A store that accepts connections and never answers (a hung server, a dropped route)
// is unavailable once PutTimeout has passed: the upload gets its 503 while the caller
// is still waiting, instead of holding the request for minio-go's retries.
func TestAPutToAStoreThatNeverAnswersIsUnavailableAfterPutTimeout(t *testing.T) {
	cfg := newBucket(t)
	proxy := newBlackholeProxy(t, cfg.Endpoint)
	cfg.Endpoint = proxy.addr
	cfg.PutTimeout = 200 * time.Millisecond
	s := newStore(t, cfg)
	photo := blobtest.Photo(t, "room1-1.jpeg")
	if _, err := s.Put(t.Context(), "scans/a/before.jpg", bytes.NewReader(photo), 1<<30); err != nil {
		t.Fatalf("Put while the store answers: %v", err)
	}

	proxy.blackhole.Store(true)
	// The caller's own deadline is far away; it is a safety net, and ending by it is
	// the failure this test is about (not the store's verdict).
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := s.Put(ctx, "scans/a/during.jpg", bytes.NewReader(photo), 1<<30)
	if domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("Put to a store that never answers: %v (code %q), want %s", err, domain.ErrorCode(err), domain.EUNAVAILABLE)
	}
	if ctx.Err() != nil {
		t.Fatalf("Put ended by the caller's deadline, not by PutTimeout: %v", err)
	}
}

// A store that works but takes a photo's bytes slowly (a slow or shared link) is not
// taken for one that is gone: a put may take PutTimeout plus its size at a minimum rate.
func TestASlowButWorkingStoreIsNotTakenForAGoneOne(t *testing.T) {
	cfg := newBucket(t)
	proxy := newBlackholeProxy(t, cfg.Endpoint)
	proxy.bytesPerSecond.Store(1 << 20)
	cfg.Endpoint = proxy.addr
	cfg.PutTimeout = 200 * time.Millisecond
	s := newStore(t, cfg)
	photo := blobtest.Photo(t, "room1-1.jpeg") // 1.1 MB: about a second through the proxy
	if _, err := s.Put(t.Context(), "scans/a/slow.jpg", bytes.NewReader(photo), 1<<30); err != nil {
		t.Fatalf("Put through a slow link: %v (code %q), want it stored", err, domain.ErrorCode(err))
	}
}

// blackholeProxy forwards TCP to an S3 server until blackhole is set; from then on it
// accepts connections and swallows what they send without ever answering. With
// bytesPerSecond set, it forwards what clients send at that rate.
type blackholeProxy struct {
	addr           string
	blackhole      atomic.Bool
	bytesPerSecond atomic.Int64
}

// throttled copies src to dst at p's rate, in chunks of 64 KiB.
func (p *blackholeProxy) throttled(dst io.Writer, src io.Reader) {
	rate := p.bytesPerSecond.Load()
	if rate <= 0 {
		_, _ = io.Copy(dst, src)
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{addr: l.Addr().String()}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
			if p.blackhole.Load() {
				wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			track(up)
			wg.Go(func() { p.throttled(up, c); up.Close() })
			wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
	return p
}
