package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/httpapi"
)

// rawPost opens a real TCP connection and sends a request's headers.
func rawPost(t *testing.T, base, path, contentType string, length int, extra string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n", path, contentType, length, extra)
	return conn
}

// A client that sends its headers and then trickles (or stops sending) its body is cut
// off once it falls below the minimum rate: such connections cannot pile up.
func TestStalledBodiesAreCutOff(t *testing.T) {
	api := newHardenedAPI(t, "", func(c *httpapi.Config) {
		c.BodyGrace, c.BodyMinRate = time.Second, 1000
	})
	const n = 20
	var wg sync.WaitGroup
	closed := make(chan time.Duration, n)
	for i := 0; i < n; i++ {
		conn := rawPost(t, api.url, "/api/v1/auth/login", "application/json", 1000, "")
		io.WriteString(conn, `{"email":"a`) // 11 of 1000 bytes, then nothing
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err == nil {
				if resp.StatusCode != http.StatusRequestTimeout {
					t.Errorf("status %d, want 408", resp.StatusCode)
				}
				io.Copy(io.Discard, resp.Body)
			}
			closed <- time.Since(start)
		}()
	}
	wg.Wait()
	close(closed)
	for d := range closed {
		if d > 15*time.Second {
			t.Fatalf("a stalled body was still open after %v", d)
		}
	}
}

// A slow but steady upload of a real photo is not cut off: only falling below the
// minimum rate is.
func TestSlowSteadyUploadOfARealPhotoSucceeds(t *testing.T) {
	api := newHardenedAPI(t, "", func(c *httpapi.Config) {
		c.BodyGrace, c.BodyMinRate = time.Second, 40_000
	})
	bearer := api.signup("slow@example.com").AccessToken
	scanID := api.newScan(bearer, "1 Slow Lane")
	buf, contentType := photoForm(t, "room2-1.jpg", "")
	conn := rawPost(t, api.url, "/api/v1/scans/"+scanID+"/images", contentType, buf.Len(), "Authorization: Bearer "+bearer+"\r\n")
	// About 80 kB/s, twice the minimum, in 8 kB steps: ~1.7 s for the photo.
	body := buf.Bytes()
	for len(body) > 0 {
		k := min(8000, len(body))
		if _, err := conn.Write(body[:k]); err != nil {
			t.Fatal(err)
		}
		body = body[k:]
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}
