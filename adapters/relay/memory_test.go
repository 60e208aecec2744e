package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
)

// The memory test's child process opens connections from outside the server's process,
// so that the figures are the server's alone.
const (
	loadEnv   = "RELAY_TEST_LOAD" // transport|url|token
	loadNEnv  = "RELAY_TEST_LOAD_N"
	memoryEnv = "RELAY_TEST_MEMORY_N"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(loadEnv); spec != "" {
		os.Exit(runLoad(spec))
	}
	os.Exit(m.Run())
}

// runLoad connects n clients of one transport, prints "opened" once each has its first
// frame (so the server has set the connection up), waits for a line on stdin, closes
// them and prints "closed".
func runLoad(spec string) int {
	parts := strings.SplitN(spec, "|", 3)
	n, err := strconv.Atoi(os.Getenv(loadNEnv))
	if err != nil || len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "load client: bad spec", spec, err)
		return 2
	}
	transport, base, tok := parts[0], parts[1], parts[2]
	return socketiotest.RunLoadClient(n, func(ctx context.Context) (func(), error) {
		switch transport {
		case "sse":
			return loadSSE(ctx, base, tok)
		case "websocket":
			return loadWS(ctx, base, tok)
		default:
			return nil, fmt.Errorf("unknown transport %q", transport)
		}
	})
}

// loadSSE opens the stream over a bare TCP connection and reads up to the first frame.
func loadSSE(ctx context.Context, base, tok string) (func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /api/v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", u.Host, tok)
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("sse: status %d", resp.StatusCode)
	}
	// The first frame is the ": connected" comment.
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("sse: first frame: %w", err)
		}
		if strings.TrimSpace(line) == "" {
			break
		}
	}
	return func() { c.Close() }, nil
}

func loadWS(ctx context.Context, base, tok string) (func(), error) {
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/v1/ws",
		&websocket.DialOptions{Subprotocols: []string{"bearer", tok}})
	if err != nil {
		return nil, err
	}
	return func() { c.CloseNow() }, nil
}

// TestMemoryPerConnection prints what one open, idle live connection costs the server
// by transport: heap and stack in use, and goroutines (docs/benchmarks.md), and holds
// SSE to its budget: at most 30 KiB and 2 goroutines a connection (measured: about
// 5 KiB and 1). Set RELAY_TEST_MEMORY_N to change the count.
func TestMemoryPerConnection(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	if v, err := strconv.Atoi(os.Getenv(memoryEnv)); err == nil && v > 0 {
		n = v
	}
	e := newEnv(t, envConfig{livePerIP: 1 << 20})
	tok := e.token("memory-user")
	for _, transport := range []string{"sse", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			spec := transport + "|" + e.url + "|" + tok
			baseG, _ := socketiotest.MemSnapshot()
			loadRound(t, e, spec, n, func() {}) // raises the runtime's free lists to their high-water mark
			_, base := socketiotest.MemSnapshot()
			var open runtime.MemStats
			var openG int
			loadRound(t, e, spec, n, func() {
				openG, open = socketiotest.MemSnapshot()
				if dir := os.Getenv("RELAY_TEST_HEAP_PROFILE"); dir != "" {
					f, _ := os.Create(dir + "/" + transport + ".heap")
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			})
			per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
			t.Logf("%s: %d connections: per connection %.1f KiB (HeapInuse %.1f KiB + StackInuse %.1f KiB), %.2f goroutines",
				transport, n, per(open.HeapInuse+open.StackInuse, base.HeapInuse+base.StackInuse),
				per(open.HeapInuse, base.HeapInuse), per(open.StackInuse, base.StackInuse),
				float64(openG-baseG)/float64(n))
			if transport != "sse" {
				return
			}
			if kib := per(open.HeapInuse+open.StackInuse, base.HeapInuse+base.StackInuse); kib > 30 {
				t.Errorf("an idle SSE connection costs %.1f KiB, over its 30 KiB budget", kib)
			}
			if g := float64(openG-baseG) / float64(n); g > 2 {
				t.Errorf("an idle SSE connection holds %.2f goroutines, over its budget of 2", g)
			}
		})
	}
}

func loadRound(t *testing.T, e *env, spec string, n int, atPeak func()) {
	t.Helper()
	socketiotest.LoadRound(t, []string{loadEnv + "=" + spec, loadNEnv + "=" + strconv.Itoa(n)}, func() {
		eventually(t, time.Minute, "every connection subscribed", func() bool { return e.hub.Subscribers() == n })
		atPeak()
	}, func() {
		eventually(t, time.Minute, "every subscription ended", func() bool { return e.hub.Subscribers() == 0 })
	})
}
