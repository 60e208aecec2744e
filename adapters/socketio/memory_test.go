package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/socketio"
	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
	"github.com/scanledger/scanledger/internal/await"
)

const (
	loadClientEnv = "SOCKETIO_TEST_LOAD_CLIENT"
	loadCountEnv  = "SOCKETIO_TEST_LOAD_N"
)

// runLoadClient is the memory test's child process: it connects n WebSocket sockets to
// url, prints "opened", waits for a line on stdin, closes them all and prints "closed".
func runLoadClient(url string) int {
	n, err := strconv.Atoi(os.Getenv(loadCountEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "load client:", err)
		return 2
	}
	return socketiotest.RunLoadClient(n, func(ctx context.Context) (func(), error) {
		conn, err := connectWS(ctx, url, "good-load")
		if err != nil {
			return nil, err
		}
		return func() { conn.CloseNow() }, nil
	})
}

func TestMemoryPerOpenWebSocketConnectionAndReturnToBaseline(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	srv, ts := startServer(t, nil, &socketio.Server{
		// No heartbeat during the measurement: the figure is a connection at rest.
		PingInterval: time.Hour,
		PingTimeout:  time.Hour,
		Connect: func(ctx context.Context, r *http.Request, auth json.RawMessage) (*socketio.Session, error) {
			return &socketio.Session{Start: func(*socketio.Sender) {}}, nil
		},
	})

	// The runtime keeps the descriptors of exited goroutines for reuse, and maps keep
	// their buckets: a first round raises those to their high-water mark, so that the
	// measured round's return to baseline shows what the server itself keeps.
	baseGoroutines, _ := socketiotest.MemSnapshot()
	loadRound(t, srv, ts, n, baseGoroutines, func() {})
	_, base := socketiotest.MemSnapshot()

	var (
		open           runtime.MemStats
		openGoroutines int
	)
	took := loadRound(t, srv, ts, n, baseGoroutines, func() { openGoroutines, open = socketiotest.MemSnapshot() })
	_, after := socketiotest.MemSnapshot()

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	t.Logf("%d WebSocket connections opened in %v", n, took.Round(time.Millisecond))
	t.Logf("per open connection: HeapInuse %.0f B (HeapAlloc %.0f B), StackInuse %.0f B, %.1f goroutines",
		per(open.HeapInuse, base.HeapInuse), per(open.HeapAlloc, base.HeapAlloc), per(open.StackInuse, base.StackInuse),
		float64(openGoroutines-baseGoroutines)/float64(n))
	grown := int64(after.HeapInuse) - int64(base.HeapInuse)
	t.Logf("after closing all: HeapInuse %+d B, HeapAlloc %+d B, StackInuse %+d B versus baseline",
		grown, int64(after.HeapAlloc)-int64(base.HeapAlloc), int64(after.StackInuse)-int64(base.StackInuse))

	// A leak of even 1% of a connection's heap would show as n times that. The check
	// reads the live heap after a collection (HeapAlloc): HeapInuse also counts spans the
	// allocator keeps half-used after a round, which varied by tens of percent of the
	// limit between runs without anything being kept.
	live := int64(after.HeapAlloc) - int64(base.HeapAlloc)
	if limit := int64(open.HeapAlloc-base.HeapAlloc) / 100; live > limit {
		t.Errorf("the live heap stayed %d B above baseline after closing (limit %d; HeapInuse %+d B)", live, limit, grown)
	}
}

// loadRound opens n WebSocket sockets from a child process, calls atPeak while they
// are all connected, closes them and waits until the server has let go of everything.
// It returns how long opening took.
func loadRound(t *testing.T, srv *socketio.Server, ts *httptest.Server, n, baseGoroutines int, atPeak func()) time.Duration {
	t.Helper()
	var took time.Duration
	start := time.Now()
	socketiotest.LoadRound(t, []string{loadClientEnv + "=" + wsURL(ts, ""), loadCountEnv + "=" + strconv.Itoa(n)}, func() {
		await.Until(t, wait, "all sockets connected", func() bool { return srv.Stats() == socketio.Stats{Sessions: n, Sockets: n} })
		took = time.Since(start)
		atPeak()
	}, func() {
		await.Until(t, wait, "all sessions closed", func() bool { return srv.Stats() == socketio.Stats{} })
		settleGoroutines(t, baseGoroutines)
	})
	return took
}

func BenchmarkWebSocketEventDelivery(b *testing.B) {
	messages := make(chan socketio.Message, 256)
	_, ts := startServer(b, nil, &socketio.Server{
		Connect: func(ctx context.Context, r *http.Request, auth json.RawMessage) (*socketio.Session, error) {
			return &socketio.Session{Start: forward(messages)}, nil
		},
	})
	conn := mustConnectWS(b, ts, "good-bench")
	completed := scanEvents("s1")[6]
	data := json.RawMessage(completed[1])
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := range b.N {
			messages <- socketio.Message{ID: strconv.Itoa(i + 1), Event: completed[0], Data: data}
		}
	}()
	for range b.N {
		if _, err := readText(ctx, conn); err != nil {
			b.Fatal(err)
		}
	}
}
