package socketio

import (
	"errors"
	"io"
	"net/http"
)

// poll answers a long-polling GET with the queued packets, waiting until there are some.
// The heartbeat bounds the wait: a ping is queued every PingInterval.
func (s *session) poll(w http.ResponseWriter, r *http.Request) {
	if !s.claim(w, &s.polling, "poll") {
		return
	}

	var (
		payload []byte
		last    bool
		ready   bool
	)
	for {
		s.mu.Lock()
		payload, last, ready = s.pollLocked()
		if ready {
			s.polling = false
		}
		s.mu.Unlock()
		if ready {
			break
		}
		select {
		case <-s.pollWake:
		case <-r.Context().Done():
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
			s.close("poll closed prematurely")
			return
		}
	}
	notify(s.room)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	w.Write(payload)
	if last {
		s.close("")
	}
}

// claim marks a polling request in progress, flag being s.polling or s.posting. It
// answers 400 for a session that has left polling, and closes the session on an
// overlap: engine.io allows one GET and one POST at a time, and a second means a
// confused or hostile client.
func (s *session) claim(w http.ResponseWriter, flag *bool, what string) bool {
	s.mu.Lock()
	if s.ws != nil {
		s.mu.Unlock()
		writeEngineError(w, errBadRequest)
		return false
	}
	if *flag {
		s.mu.Unlock()
		s.close(what + " overlap")
		writeEngineError(w, errBadRequest)
		return false
	}
	*flag = true
	s.mu.Unlock()
	return true
}

// pollLocked says what a pending poll answers now, if anything: ready is false while it
// must wait. last reports that the answer ends with the close packet of a graceful close.
func (s *session) pollLocked() (payload []byte, last, ready bool) {
	closePacket := []byte{'0' + byte(EngineClose)}
	noop := []byte{'0' + byte(EngineNoop)}
	switch {
	case s.state == stateClosed:
		return closePacket, false, true
	case s.ws != nil:
		// Upgraded while this poll waited: the client no longer reads it, so the queue is
		// left for the WebSocket.
		return noop, false, true
	case len(s.queue) > 0:
		payload = s.takePollBatchLocked()
		if s.state == stateClosing && len(s.queue) == 0 {
			return append(append(payload, recordSeparator), closePacket...), true, true
		}
		return payload, false, true
	case s.state == stateClosing:
		return closePacket, true, true
	case s.probed:
		// The client pauses polling to upgrade, and it waits for this poll to return.
		return noop, false, true
	}
	return nil, false, false
}

// takePollBatchLocked removes from the queue the packets of one polling response: at
// least one, then as many as fit in MaxPayload.
func (s *session) takePollBatchLocked() []byte {
	n, size := 0, 0
	for _, frame := range s.queue {
		if n > 0 && size+1+len(frame) > s.srv.MaxPayload {
			break
		}
		if n > 0 {
			size++
		}
		size += len(frame)
		n++
	}
	payload := make([]byte, 0, size+2)
	for i, frame := range s.queue[:n] {
		if i > 0 {
			payload = append(payload, recordSeparator)
		}
		payload = append(payload, frame...)
		s.queued -= len(frame)
	}
	// Drop references to the sent packets so they are collectable now.
	clear(s.queue[:n])
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return payload
}

// post reads a long-polling POST: a payload of packets from the client.
func (s *session) post(w http.ResponseWriter, r *http.Request) {
	if !s.claim(w, &s.posting, "post") {
		return
	}
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.srv.MaxPayload)))
	if err != nil {
		s.close("post body unreadable")
		if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		writeEngineError(w, errBadRequest)
		return
	}
	packets, err := DecodeEnginePayload(body, s.srv.MaxPayload)
	if err == nil {
		for _, p := range packets {
			if err = s.onPacket(p); err != nil {
				break
			}
		}
	}
	if err != nil {
		s.srv.log.Debug("socket.io protocol error", "sid", s.id, "err", err)
		s.close("protocol error")
		writeEngineError(w, errBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.Write([]byte("ok"))
}
