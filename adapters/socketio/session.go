package socketio

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

type sessionState uint8

const (
	stateOpen sessionState = iota
	// stateClosing flushes the queue, then closes the transport: the relay dropped the
	// socket and the client must see a transport close so that it reconnects.
	stateClosing
	stateClosed
)

// session is one Engine.IO connection. Its packets wait in one queue whichever transport
// carries them, so an upgrade moves no data: the WebSocket writer simply takes over from
// the polling GETs.
type session struct {
	srv *Server
	id  string
	req *http.Request
	// ctx is cancelled when the session closes. It is the parent of the socket's context
	// and of every WebSocket read and write, so cancelling it also closes the WebSocket.
	ctx    context.Context
	cancel context.CancelFunc

	pollWake chan struct{} // the pending poll may have something to answer
	sendWake chan struct{} // the WebSocket writer may have something to write
	room     chan struct{} // the queue drained: a waiting Send may go on

	mu           sync.Mutex
	state        sessionState
	reason       string
	heartbeat    *time.Timer
	awaitingPong bool
	connectTimer *time.Timer
	closeTimer   *time.Timer
	ws           *websocket.Conn // set once the session runs on WebSocket
	upgrading    bool            // a WebSocket probe is attached
	probed       bool            // the probe answered: a pending poll returns a noop at once
	polling      bool            // a GET is pending
	posting      bool            // a POST is being processed
	queue        [][]byte        // encoded Engine.IO packets, oldest first
	queued       int             // bytes in queue
	sock         *socket
}

// socket is the session's connection to the namespace, from CONNECT until it
// disconnects; it owns the context given to Server.Connect.
type socket struct {
	id        string
	nsp       string
	ctx       context.Context
	cancel    context.CancelFunc
	connected bool // guarded by session.mu
}

type connectAck struct {
	SID string `json:"sid"`
	PID string `json:"pid"`
}

type connectError struct {
	Message string `json:"message"`
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *session) wake() {
	notify(s.pollWake)
	notify(s.sendWake)
}

// enqueueLocked queues an encoded packet unless the session stopped taking packets.
func (s *session) enqueueLocked(frame []byte) bool {
	if s.state != stateOpen {
		return false
	}
	s.queue = append(s.queue, frame)
	s.queued += len(frame)
	return true
}

func (s *session) send(frame []byte) bool {
	s.mu.Lock()
	ok := s.enqueueLocked(frame)
	s.mu.Unlock()
	if ok {
		s.wake()
	}
	return ok
}

// waitRoom blocks while the queue is at WriteBuffer, so that a client that does not
// drain leaves events with its own producer rather than in memory here.
func (s *session) waitRoom(ctx context.Context) bool {
	for {
		s.mu.Lock()
		full := s.queued >= s.srv.WriteBuffer
		s.mu.Unlock()
		if !full {
			return ctx.Err() == nil
		}
		select {
		case <-s.room:
		case <-ctx.Done():
			return false
		}
	}
}

// beat is the heartbeat timer: it sends a ping, and when it fires again before the pong
// arrived, the client is gone.
func (s *session) beat() {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	if s.awaitingPong {
		s.mu.Unlock()
		s.close("ping timeout")
		return
	}
	s.awaitingPong = true
	s.heartbeat.Reset(s.srv.PingTimeout)
	s.enqueueLocked([]byte{'0' + byte(EnginePing)})
	s.mu.Unlock()
	s.wake()
}

func (s *session) connectDeadline() {
	s.mu.Lock()
	idle := s.sock == nil || !s.sock.connected
	s.mu.Unlock()
	if idle {
		s.close("connect timeout")
	}
}

// onPacket handles a packet from the client, on any transport. An error is a protocol
// violation that closes the session.
func (s *session) onPacket(p EnginePacket) error {
	switch p.Type {
	case EnginePong:
		s.mu.Lock()
		if s.awaitingPong && s.state == stateOpen {
			s.awaitingPong = false
			s.heartbeat.Reset(s.srv.PingInterval)
		}
		s.mu.Unlock()
	case EngineMessage:
		return s.onMessage(p.Data)
	case EngineClose:
		s.close("client closed")
	case EngineNoop:
	default:
		return fmt.Errorf("unexpected engine.io packet type %d", p.Type)
	}
	return nil
}

func (s *session) onMessage(data []byte) error {
	p, err := DecodePacket(data)
	if err != nil {
		return err
	}
	switch p.Type {
	case PacketConnect:
		s.connect(p)
	case PacketDisconnect:
		s.disconnect(p.Namespace)
	}
	// Client EVENTs and ACKs are ignored: the PWA emits none and the server asks no acks.
	return nil
}

// connect starts a socket for a CONNECT packet. A second CONNECT to the namespace
// replaces the first socket, as socket.io does.
func (s *session) connect(p Packet) {
	if p.Namespace != s.srv.Namespace {
		s.send(appendControlFrame(nil, PacketConnectError, p.Namespace, connectError{"Invalid namespace"}))
		return
	}
	// Data may be retained by Connect: it aliases a buffer read for this packet only.
	auth := json.RawMessage(p.Data)
	if auth == nil {
		auth = json.RawMessage("{}")
	}
	sock := &socket{id: rand.Text(), nsp: p.Namespace}
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	if s.sock != nil {
		s.endSocketLocked()
	}
	sock.ctx, sock.cancel = context.WithCancel(s.ctx)
	s.sock = sock
	s.mu.Unlock()
	if !s.srv.goTracked(func() { s.runSocket(sock, auth) }) {
		sock.cancel()
	}
}

func (s *session) disconnect(nsp string) {
	s.mu.Lock()
	if s.sock != nil && s.sock.nsp == nsp {
		s.endSocketLocked()
		s.sock = nil
	}
	s.mu.Unlock()
}

// runSocket authenticates the socket, answers the CONNECT, then hands the socket's
// Sender to its producer.
// Connect runs here rather than in the reader so that a slow verification does not
// stall pongs.
func (s *session) runSocket(sock *socket, auth json.RawMessage) {
	grant, err := s.srv.Connect(sock.ctx, s.req, auth)
	if err == nil && grant == nil {
		err = errors.New("connection refused")
	}
	s.mu.Lock()
	if s.sock != sock || sock.ctx.Err() != nil {
		// Disconnected, replaced or closed while Connect ran.
		s.mu.Unlock()
		sock.cancel()
		return
	}
	if err != nil {
		s.sock = nil
		s.enqueueLocked(appendControlFrame(nil, PacketConnectError, sock.nsp, connectError{err.Error()}))
		s.mu.Unlock()
		sock.cancel()
		s.wake()
		s.srv.log.Debug("socket.io connect refused", "sid", s.id, "err", err)
		return
	}
	pid := choosePID(grant, auth)
	s.enqueueLocked(appendControlFrame(nil, PacketConnect, sock.nsp, connectAck{SID: sock.id, PID: pid}))
	sock.connected = true
	s.srv.sockets.Add(1)
	s.mu.Unlock()

	s.wake()
	s.srv.log.Debug("socket.io socket connected", "sid", s.id, "socket", sock.id, "recovered", grant.Recovered)
	if grant.Start != nil {
		grant.Start(&Sender{s: s, sock: sock})
	}
}

// choosePID picks the pid of the CONNECT ack. socket.io-client sets socket.recovered
// exactly when the pid equals the one it had, so that equality must mean Recovered.
func choosePID(grant *Session, auth json.RawMessage) string {
	var prev struct {
		PID string `json:"pid"`
	}
	// A pid that is not a string stays empty: such a client cannot be recovered.
	_ = json.Unmarshal(auth, &prev)
	switch {
	case grant.Recovered && prev.PID != "":
		return prev.PID
	case grant.PID != "" && grant.PID != prev.PID:
		return grant.PID
	}
	return rand.Text()
}

// endSocketLocked ends the current socket, if any: its context (the producer stops)
// and its place in Stats.
func (s *session) endSocketLocked() {
	if s.sock == nil {
		return
	}
	if s.sock.connected {
		s.sock.connected = false
		s.srv.sockets.Add(-1)
	}
	s.sock.cancel()
}

// Sender is a connected socket's outgoing side.
type Sender struct {
	s    *session
	sock *socket
}

// Send queues m for the client, waiting while the connection's write buffer is full.
// It returns an error once the socket is gone. A message that cannot be sent
// (reserved event name, invalid JSON) is logged and skipped.
func (o *Sender) Send(m Message) error {
	frame, err := appendEventFrame(nil, o.sock.nsp, m)
	if err != nil {
		o.s.srv.log.Error("socket.io event not sent", "sid", o.s.id, "id", m.ID, "err", err)
		return nil
	}
	if !o.s.waitRoom(o.sock.ctx) {
		return fmt.Errorf("socket.io: socket gone: %w", context.Cause(o.sock.ctx))
	}
	o.s.send(frame)
	return nil
}

// Close closes the Engine.IO connection after what is queued: a transport close for
// the client, so socket.io-client reconnects (a relay dropping a slow consumer).
func (o *Sender) Close() { o.s.closeGracefully(o.sock, "relay dropped the socket") }

// Done is closed when the socket disconnects.
func (o *Sender) Done() <-chan struct{} { return o.sock.ctx.Done() }

// closeGracefully closes the Engine.IO connection after the queued packets, which is a
// transport close for the client. A namespace DISCONNECT would be wrong here:
// socket.io-client never reconnects after "io server disconnect".
func (s *session) closeGracefully(sock *socket, reason string) {
	s.mu.Lock()
	if s.state != stateOpen || s.sock != sock {
		s.mu.Unlock()
		return
	}
	s.state, s.reason = stateClosing, reason
	s.endSocketLocked()
	s.sock = nil
	s.heartbeat.Stop()
	if s.ws == nil {
		// Polling delivers the rest and the close packet with the next poll; a client that
		// does not poll within PingTimeout is gone anyway.
		s.closeTimer = time.AfterFunc(s.srv.PingTimeout, func() { s.close(reason) })
	}
	s.mu.Unlock()
	s.wake()
}

// close closes the session at once, dropping what is queued. A pending poll is answered
// with a close packet; the WebSocket is closed by cancelling the session's context.
func (s *session) close(reason string) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	if s.state == stateOpen {
		s.reason = reason
	}
	s.state = stateClosed
	s.endSocketLocked()
	s.queue, s.queued, s.sock = nil, 0, nil
	for _, t := range []*time.Timer{s.heartbeat, s.connectTimer, s.closeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	reason = s.reason
	s.mu.Unlock()
	s.cancel()
	s.srv.forget(s)
	s.wake()
	s.srv.log.Debug("socket.io session closed", "sid", s.id, "reason", reason)
}
