package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// SSE serves Server-Sent Events. Serve takes the connection over from net/http and
// returns; one reader goroutine per connection notices the client leave, and a writer
// runs only while messages or a heartbeat wait: it takes them from the subscription's
// bounded queue (or the feed table, when the subscription catches up), writes each
// frame, and flushes when no more are ready. No broker goroutine, no channel per stream.
// Ids are feed sequences, Last-Event-ID is read by ParseLastEventID, and replay comes
// from user_feed, not from a per-process memory log.
//
// The frames are the ones r3labs/sse writes ("id:", one "data:" line per line of the
// payload, "event:", comments for the connected and heartbeat frames), so its client
// and browsers' EventSource read them unchanged. Its server is not used: it spends two
// goroutines of its own on every connection (docs/benchmarks.md).
type SSE struct {
	Hub          *Hub
	Heartbeat    time.Duration // default DefaultHeartbeat
	WriteTimeout time.Duration // default DefaultWriteTimeout

	once sync.Once
	// closed ends every stream when Close is called.
	closed   context.Context
	closeAll context.CancelFunc
}

func (x *SSE) init() {
	x.once.Do(func() {
		x.Heartbeat = orDefault(x.Heartbeat, DefaultHeartbeat)
		x.WriteTimeout = orDefault(x.WriteTimeout, DefaultWriteTimeout)
		x.closed, x.closeAll = context.WithCancel(context.Background())
	})
}

// Close ends every stream, the way a hub shutdown does (clients reconnect and resume
// elsewhere), and refuses new ones with ErrClosed.
func (x *SSE) Close() {
	x.init()
	x.closeAll()
}

// ParseLastEventID reads a resume id from the Last-Event-ID header, or the lastEventId
// query parameter for a first connection (EventSource cannot set headers). A malformed
// id is a domain.EINVALID error.
func ParseLastEventID(r *http.Request) (Resume, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("lastEventId")
	}
	return parseResume(v, "Last-Event-ID")
}

func parseResume(v, name string) (Resume, error) {
	if v == "" {
		return Resume{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return Resume{}, domain.Errorf(domain.EINVALID, "%s must be a non-negative integer", name)
	}
	return Resume{After: n, Set: true}, nil
}

// Serve streams userID's feed (optionally one scan's) to the client until it goes
// away or falls behind. The caller has authenticated the user; nothing in the request
// can choose another user's stream. An error is returned only before the response
// started (the caller answers it). release, when not nil, is called once when the
// stream ends, or before Serve returns an error.
//
// Serve returns once the stream is set up: it takes the connection over from the HTTP
// server, so the request's goroutine, its buffers and its deep stack are released.
// The stream then lives in a reader that notices the client leave and a writer that
// runs only while messages wait, like a WebSocket. It needs an HTTP/1.x connection
// (the server speaks nothing else).
func (x *SSE) Serve(w http.ResponseWriter, r *http.Request, userID, scanID string, resume Resume, release func()) error {
	x.init()
	if release == nil {
		release = func() {}
	}
	if x.closed.Err() != nil {
		release()
		return ErrClosed
	}
	sub, _, cancel, err := subscribeDetached(x.Hub, r, userID, resume, scanID, release)
	if err != nil {
		return err
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		sub.Close()
		cancel()
		release()
		return fmt.Errorf("relay: take over the SSE connection: %w", err)
	}
	// The server may have left a request deadline on the connection; the stream's own
	// bounds are the write timeout and the heartbeat.
	_ = conn.SetReadDeadline(time.Time{})
	sw := &sseWriter{sub: sub, conn: conn, timeout: x.WriteTimeout, chunked: r.ProtoAtLeast(1, 1),
		done: func() { cancel(); release() }}
	// Whoever ends the stream (the hub, a slow-client verdict, Close) unblocks a write
	// stuck on a client that stopped reading.
	context.AfterFunc(sub.ctx, func() {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if !sw.ending {
			_ = conn.SetWriteDeadline(time.Now())
		}
	})
	sw.unclose = context.AfterFunc(x.closed, func() { sub.fail(ErrClosed) })

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if sw.chunked {
		h.Set("Transfer-Encoding", "chunked")
	} else {
		h.Set("Connection", "close") // the body ends when the connection does
	}
	head := bytes.NewBufferString(r.Proto + " 200 OK\r\n")
	_ = h.Write(head)
	head.WriteString("\r\n")
	sw.head = head.Bytes()
	// A first frame at once: clients and proxies see that the stream is open without
	// waiting for an event or the first heartbeat.
	sw.comment("connected")
	if err := sw.Flush(); err != nil {
		sub.fail(err)
		sw.End(err)
		return nil
	}

	// The client sends nothing more; reading is only to see it leave.
	go func() {
		var b [64]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				cancel()
				return
			}
		}
	}()
	sub.Deliver(sw, x.Heartbeat)
	return nil
}

// sseWriter is an SSE stream's Writer. Frames collect in a pooled buffer until Flush
// writes them in one chunk; between flushes the connection holds no buffer.
type sseWriter struct {
	sub     *Subscription
	conn    net.Conn
	timeout time.Duration
	chunked bool   // HTTP/1.1: the body is chunked, so its end is explicit
	head    []byte // the response head, sent with the first flush
	buf     *[]byte
	unclose func() bool // stops ending the stream when the transport closes
	done    func()

	mu     sync.Mutex
	ending bool // End runs: writes are bounded by the timeout again
}

// chunkRoom is the space left before the frames for a chunk's size line.
const chunkRoom = 10

// framePool holds frame buffers: a connection keeps none between flushes.
var framePool = sync.Pool{New: func() any { b := make([]byte, chunkRoom, 2048); return &b }}

// Write implements Writer: one event, framed as r3labs/sse frames it.
func (s *sseWriter) Write(m Message) error {
	if s.buf == nil {
		s.buf = framePool.Get().(*[]byte)
	}
	b := append(*s.buf, "id: "...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, '\n')
	data := []byte(m.Data)
	if len(data) == 0 {
		data = []byte("null") // EventSource ignores an event without data
	}
	// A payload with a line break would otherwise end the data field early.
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		b = append(append(append(b, "data: "...), line...), '\n')
		if !more {
			break
		}
		data = rest
	}
	if m.Event != "" {
		b = append(append(append(b, "event: "...), m.Event...), '\n')
	}
	*s.buf = append(b, '\n')
	return nil
}

// Flush implements Writer: what was written goes out in one write, bounded by the
// write timeout. A client that cannot take it in that time stopped reading: it is
// disconnected, and resumes when it reconnects.
func (s *sseWriter) Flush() error {
	if s.buf == nil {
		return nil
	}
	buf := *s.buf // chunkRoom bytes of room, then the frames
	out := buf[chunkRoom:]
	if s.chunked {
		size := strconv.AppendInt(make([]byte, 0, chunkRoom), int64(len(out)), 16)
		size = append(size, '\r', '\n')
		start := chunkRoom - len(size)
		copy(buf[start:], size)
		buf = append(buf, '\r', '\n')
		*s.buf = buf
		out = buf[start:]
	}
	if s.head != nil {
		out = append(s.head, out...)
		s.head = nil
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.conn.Write(out)
	s.release()
	if err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	return nil
}

func (s *sseWriter) release() {
	if s.buf == nil {
		return
	}
	b := (*s.buf)[:chunkRoom]
	if cap(b) <= 64<<10 { // a burst's buffer is not kept for every connection
		*s.buf = b
		framePool.Put(s.buf)
	}
	s.buf = nil
}

// Heartbeat implements Writer.
func (s *sseWriter) Heartbeat() error {
	s.comment("heartbeat")
	return s.Flush()
}

func (s *sseWriter) comment(text string) {
	if s.buf == nil {
		s.buf = framePool.Get().(*[]byte)
	}
	*s.buf = append(append(append(*s.buf, ": "...), text...), '\n', '\n')
}

// End implements Writer. A stream the server ends while the client reads (the hub
// stopping) gets what was written and the body's proper end; then the connection
// closes, and the client reconnects and resumes.
func (s *sseWriter) End(err error) {
	s.unclose()
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
	if !errors.Is(err, ErrSlow) && !errors.Is(err, errWrite) && !errors.Is(err, context.Canceled) {
		if s.Flush() == nil && s.chunked {
			_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
			_, _ = s.conn.Write([]byte("0\r\n\r\n"))
		}
	}
	s.release()
	s.conn.Close()
	s.done()
}
