// Package socketio is scanledger's Socket.IO endpoint: the parts of Engine.IO v4 (EIO=4)
// and the Socket.IO v5 protocol that socket.io-client 4.8 needs to receive server
// events, served as an http.Handler mounted at /socket.io/.
//
// It carries HTTP long-polling, WebSocket, and the polling→WebSocket upgrade that the
// client performs with its default transports. One namespace is served. Identity comes
// from the namespace CONNECT packet's auth object, which Server.Connect verifies; the
// server then sends the events its producer gives the socket's Sender as EVENT packets
// whose last argument is the
// message id, socket.io's connection-state-recovery offset. A reconnecting client sends
// that offset back in auth, so Connect can resume the feed exactly where it stopped.
//
// Text packets only: binary packets and attachments are rejected, client events and
// acknowledgements are ignored.
package socketio

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scanledger/scanledger/domain/origin"
)

// Message is one server event for a socket.
type Message struct {
	// ID is the message's position in the user's feed. It travels as the event's last
	// argument, which socket.io-client keeps as the offset it sends back on reconnect.
	// Empty means no offset is sent.
	ID    string
	Event string
	// Data is the event's JSON argument; empty is sent as null.
	Data json.RawMessage
}

// Session is what Server.Connect grants a socket that may connect.
type Session struct {
	// PID is the private session id sent in the CONNECT ack of a socket that is not
	// Recovered; the client sends it back in auth when it reconnects. Empty means a
	// random one. The client's previous pid is never reused here: it would tell the
	// client that it missed nothing.
	PID string
	// Start, when set, is called once the socket is connected (the CONNECT acknowledged) with the
	// socket's Sender, through which the producer sends its events, from its own
	// goroutine, until the socket's ctx (Connect's) is done. Start must not block. The
	// socket holds no goroutine of its own between the producer and the connection's
	// writer.
	Start func(*Sender)
	// Recovered reports that the events start with exactly the messages after the offset
	// the client sent. The CONNECT ack then carries the client's previous pid, which is
	// how socket.io-client learns it (socket.recovered).
	Recovered bool
}

// Stats counts what a Server holds open.
type Stats struct {
	// Sessions is the number of open Engine.IO connections.
	Sessions int
	// Sockets is the number of sockets connected to the namespace.
	Sockets int
}

// upgradeTimeout bounds the polling→WebSocket probe, as engine.io's default.
const upgradeTimeout = 10 * time.Second

// Server is a Socket.IO server for one namespace. Set its fields, then serve it; they
// must not change once it has served a request. Connect is required.
type Server struct {
	// Namespace served, e.g. "/scans". Empty means "/". CONNECT to any other namespace,
	// "/" included, is answered with CONNECT_ERROR "Invalid namespace".
	Namespace string
	// PingInterval and PingTimeout are Engine.IO's heartbeat (defaults 25s and 20s): the
	// server pings every PingInterval and closes a connection whose pong does not arrive
	// within PingTimeout. PingTimeout also bounds each WebSocket write.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxPayload caps a polling request body and a WebSocket message from the client, and
	// the size of a polling response batch (default 1,000,000 bytes, as engine.io).
	MaxPayload int
	// WriteBuffer caps the bytes of events queued for one connection (default 64 KiB).
	// When it is full Sender.Send waits, so a stalled client holds up its own producer
	// and nothing else.
	WriteBuffer int
	// ConnectTimeout closes an Engine.IO connection that has no connected socket this long
	// after it opened (default 45s, as socket.io).
	ConnectTimeout time.Duration
	// Origins are the browser origins allowed from another site, as full origins
	// ("https://app.example.com") or "*" for any, by the rule of every transport
	// (domain/origin). An allowed origin gets CORS headers with credentials (the origin
	// echoed, Vary: Origin); a page of the host the request is sent to needs none; any
	// other origin is refused with 403. Default: none.
	Origins []string
	// Connect authenticates a namespace CONNECT. auth is the client's auth object ("{}"
	// when it sent none); after a disconnect socket.io-client merges its previous "pid"
	// and last "offset" into it. r is the request that opened the Engine.IO connection;
	// its context is not live, ctx is: it lasts as long as the socket and is cancelled
	// when it disconnects. An error's message is sent to the client in CONNECT_ERROR, so
	// it must be fit for the client to read.
	Connect func(ctx context.Context, r *http.Request, auth json.RawMessage) (*Session, error)
	// Logger receives connection lifecycle records at debug level, and messages that
	// cannot be sent (reserved name, invalid JSON) at error level. Nil discards them.
	Logger *slog.Logger

	once    sync.Once
	origins origin.Policy
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sockets atomic.Int64

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
}

// start applies the defaults on first use. It panics when Connect is nil or Namespace
// does not start with "/", both programming errors: on every call, not only the first,
// so that a recovered panic does not leave later requests on a half-started server.
func (s *Server) start() {
	if s.Connect == nil {
		panic("socketio: Server.Connect is required")
	}
	if s.Namespace != "" && !strings.HasPrefix(s.Namespace, "/") {
		panic("socketio: Server.Namespace must start with /")
	}
	s.once.Do(func() {
		if s.Namespace == "" {
			s.Namespace = "/"
		}
		if s.PingInterval <= 0 {
			s.PingInterval = 25 * time.Second
		}
		if s.PingTimeout <= 0 {
			s.PingTimeout = 20 * time.Second
		}
		if s.MaxPayload <= 0 {
			s.MaxPayload = 1_000_000
		}
		if s.WriteBuffer <= 0 {
			s.WriteBuffer = 64 << 10
		}
		if s.ConnectTimeout <= 0 {
			s.ConnectTimeout = 45 * time.Second
		}
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		s.origins = origin.New(s.Origins)
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.sessions = make(map[string]*session)
	})
}

// Stats reports the connections open now.
func (s *Server) Stats() Stats {
	s.start()
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	return Stats{Sessions: n, Sockets: int(s.sockets.Load())}
}

// Close closes every connection, cancels every socket's context and waits for the
// goroutines the server started. Requests arriving afterwards get 503.
func (s *Server) Close() {
	s.start()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	open := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		open = append(open, sess)
	}
	s.mu.Unlock()
	for _, sess := range open {
		sess.close("server closed")
	}
	s.cancel()
	s.wg.Wait()
}

// ServeHTTP answers Engine.IO requests: a handshake without sid, polling GET and POST
// with one, and WebSocket connections with or without one (an upgrade when with).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.start()
	if !s.cors(w, r) {
		writeEngineError(w, errForbidden)
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeEngineError(w, errUnsupportedProtocol)
		return
	}
	transport := q.Get("transport")
	if transport != "polling" && transport != "websocket" {
		writeEngineError(w, errUnknownTransport)
		return
	}
	var sess *session
	if sid := q.Get("sid"); sid != "" {
		s.mu.Lock()
		sess = s.sessions[sid]
		s.mu.Unlock()
		if sess == nil {
			writeEngineError(w, errUnknownSession)
			return
		}
	}
	switch {
	case transport == "websocket":
		s.serveWebSocket(w, r, sess)
	case sess == nil && r.Method == http.MethodGet:
		s.handshakePolling(w, r)
	case sess == nil:
		writeEngineError(w, errBadHandshakeMethod)
	case r.Method == http.MethodGet:
		sess.poll(w, r)
	case r.Method == http.MethodPost:
		sess.post(w, r)
	default:
		writeEngineError(w, errBadRequest)
	}
}

// cors sets the CORS headers of an allowed cross-origin request and answers false for a
// foreign origin that is not allowed. Credentials are allowed, as the original gateway's
// CORS config did; that rules out the wildcard, so the origin is echoed. WebSocket
// requests pass the same check: browsers apply no CORS to them.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	from := r.Header.Get("Origin")
	if !s.origins.Allows(from) {
		// No browser page, or a page of the host itself: served, without CORS headers.
		return s.origins.AllowsConnection(from, r.Host)
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", from)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}

// handshakePolling opens a session on long-polling and answers this GET with the open
// packet, as a normal poll of the queue the packet starts in.
func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	sess := s.newSession(r, []string{"websocket"})
	if sess == nil {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	sess.poll(w, r)
}

// newSession registers a session whose queue starts with the open packet, or returns
// nil when the server is closed.
func (s *Server) newSession(r *http.Request, upgrades []string) *session {
	sess := &session{
		srv:      s,
		id:       rand.Text(),
		req:      r.WithContext(context.Background()),
		pollWake: make(chan struct{}, 1),
		sendWake: make(chan struct{}, 1),
		room:     make(chan struct{}, 1),
	}
	sess.ctx, sess.cancel = context.WithCancel(s.ctx)
	open := struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sess.id, upgrades, s.PingInterval.Milliseconds(), s.PingTimeout.Milliseconds(), s.MaxPayload}
	data, err := json.Marshal(open)
	if err != nil {
		panic("socketio: marshal open packet: " + err.Error())
	}
	sess.queue = [][]byte{AppendEnginePacket(nil, EnginePacket{Type: EngineOpen, Data: data})}

	// The timers are armed before the session is visible, so no one else holds its lock
	// yet; the lock order elsewhere is session, then server.
	sess.mu.Lock()
	sess.heartbeat = time.AfterFunc(s.PingInterval, sess.beat)
	sess.connectTimer = time.AfterFunc(s.ConnectTimeout, sess.connectDeadline)
	sess.mu.Unlock()
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.sessions[sess.id] = sess
	}
	s.mu.Unlock()
	if closed {
		sess.close("server closed")
		return nil
	}
	s.log.Debug("socket.io session opened", "sid", sess.id, "remote", r.RemoteAddr)
	return sess
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
}

// track counts the calling goroutine as one Close waits for, unless the server is
// closed. Counting under mu, which Close takes before it waits, keeps Add before Wait.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// goTracked starts f as a goroutine Close waits for, unless the server is closed.
func (s *Server) goTracked(f func()) bool {
	if !s.track() {
		return false
	}
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// The Engine.IO error codes of a 400 answer, as engine.io numbers them.
const (
	errUnknownTransport = iota
	errUnknownSession
	errBadHandshakeMethod
	errBadRequest
	errForbidden
	errUnsupportedProtocol
)

func writeEngineError(w http.ResponseWriter, code int) {
	status, msg := http.StatusBadRequest, ""
	switch code {
	case errUnknownTransport:
		msg = "Transport unknown"
	case errUnknownSession:
		msg = "Session ID unknown"
	case errBadHandshakeMethod:
		msg = "Bad handshake method"
	case errBadRequest:
		msg = "Bad request"
	case errForbidden:
		status, msg = http.StatusForbidden, "Forbidden"
	case errUnsupportedProtocol:
		msg = "Unsupported protocol version"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(`{"code":` + strconv.Itoa(code) + `,"message":"` + msg + `"}`))
}
