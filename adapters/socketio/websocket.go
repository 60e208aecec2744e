package socketio

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/coder/websocket"
)

// serveWebSocket runs a WebSocket connection for its whole life in the request's
// goroutine, which is also the connection's reader: a new session when sess is nil, an
// upgrade of sess otherwise.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, sess *session) {
	if !s.track() {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	if sess != nil {
		sess.upgrade(w, r)
		return
	}
	conn, err := s.accept(w, r)
	if err != nil {
		s.log.Debug("socket.io websocket refused", "err", err)
		return
	}
	sess = s.newSession(r, []string{})
	if sess == nil {
		conn.Close(websocket.StatusGoingAway, "server closed")
		return
	}
	if !sess.attach(conn) {
		conn.CloseNow()
		return
	}
	sess.readLoop(conn)
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// ServeHTTP has already judged the Origin with the same rule as for polling.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return nil, fmt.Errorf("accept websocket: %w", err)
	}
	conn.SetReadLimit(int64(s.MaxPayload))
	return conn, nil
}

// upgrade moves a polling session to WebSocket: the client probes with "2probe", the
// server answers "3probe" and makes the pending poll return so the client can pause
// polling, then the client sends "5" and the WebSocket takes over the queue.
func (s *session) upgrade(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.state != stateOpen || s.ws != nil || s.upgrading {
		s.mu.Unlock()
		writeEngineError(w, errBadRequest)
		return
	}
	s.upgrading = true
	s.mu.Unlock()

	conn, err := s.srv.accept(w, r)
	if err == nil {
		err = s.probe(conn)
		if err == nil && !s.attach(conn) {
			err = errors.New("session closed during upgrade")
		}
	}
	s.mu.Lock()
	s.upgrading, s.probed = false, false
	s.mu.Unlock()
	if err != nil {
		if conn != nil {
			conn.CloseNow()
		}
		s.srv.log.Debug("socket.io upgrade failed", "sid", s.id, "err", err)
		return
	}
	s.readLoop(conn)
}

func (s *session) probe(conn *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(s.ctx, upgradeTimeout)
	defer cancel()
	if err := expectFrame(ctx, conn, "2probe"); err != nil {
		return err
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte("3probe")); err != nil {
		return fmt.Errorf("write probe pong: %w", err)
	}
	s.mu.Lock()
	s.probed = true
	s.mu.Unlock()
	notify(s.pollWake)
	return expectFrame(ctx, conn, "5")
}

func expectFrame(ctx context.Context, conn *websocket.Conn, want string) error {
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return fmt.Errorf("upgrade: read %q: %w", want, err)
	}
	if typ != websocket.MessageText || string(data) != want {
		return fmt.Errorf("upgrade: got %q, want %q", data, want)
	}
	return nil
}

// attach makes conn the session's transport and starts its writer, which flushes what
// is queued. A pending poll then returns a noop. A closing session is attached too: the
// relay dropped its socket during the upgrade, after the client stopped polling, so
// only this WebSocket can deliver what is queued and the close frame that makes the
// client reconnect; the writer does both, and the polling close timer is not needed.
func (s *session) attach(conn *websocket.Conn) bool {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return false
	}
	if s.closeTimer != nil {
		s.closeTimer.Stop()
	}
	s.ws = conn
	s.mu.Unlock()
	if !s.srv.goTracked(func() { s.writeLoop(conn) }) {
		s.close("server closed")
		return false
	}
	s.wake()
	return true
}

// readLoop reads the client's packets until the connection ends.
func (s *session) readLoop(conn *websocket.Conn) {
	for {
		typ, data, err := conn.Read(s.ctx)
		if err != nil {
			s.close("transport close")
			return
		}
		if typ != websocket.MessageText {
			err = errors.New("binary frames are not supported")
		} else {
			var p EnginePacket
			if p, err = DecodeEnginePacket(data); err == nil {
				err = s.onPacket(p)
			}
		}
		if err != nil {
			s.srv.log.Debug("socket.io protocol error", "sid", s.id, "err", err)
			s.close("protocol error")
			return
		}
	}
}

// writeLoop writes the queue to the WebSocket. After a graceful close it writes what is
// left and closes the WebSocket with a close frame.
func (s *session) writeLoop(conn *websocket.Conn) {
	for {
		select {
		case <-s.sendWake:
		case <-s.ctx.Done():
			conn.CloseNow()
			return
		}
		s.mu.Lock()
		batch, closing := s.queue, s.state == stateClosing
		s.queue, s.queued = nil, 0
		s.mu.Unlock()
		notify(s.room)
		for _, frame := range batch {
			if err := s.write(conn, frame); err != nil {
				s.close("write failed")
				conn.CloseNow()
				return
			}
		}
		if closing {
			conn.Close(websocket.StatusNormalClosure, "")
			s.close("")
			return
		}
	}
}

// write bounds a frame's write by PingTimeout: a client that cannot take a frame that
// long is as dead as one that does not answer a ping.
func (s *session) write(conn *websocket.Conn, frame []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.PingTimeout)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}
