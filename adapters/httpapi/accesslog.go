package httpapi

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// requestFacts are what the router learns about a request (its route template, caller
// and request id) for the access log line written once the response is done.
type requestFacts struct {
	route, user, requestID string
}

type factsKey struct{}

// observe writes one access-log line per request and reports it to OnRequest. It wraps
// everything, mounts included, so the streams and Socket.IO are counted too. Only the
// route template is logged, never the raw path or query: a query may carry a token
// (the WebSocket's ?token=, signed photo URLs' signatures).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		facts := &requestFacts{}
		sw := &statusWriter{ResponseWriter: w, upgrade: r.Header.Get("Upgrade") != ""}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), factsKey{}, facts)))
		took := time.Since(began)
		route := facts.route
		if route == "" {
			route = s.mountOf(r.URL.Path)
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		if s.OnRequest != nil {
			s.OnRequest(r.Method, route, status, took)
		}
		level := slog.LevelInfo
		if route == "/healthz" || route == "/readyz" || route == "/metrics" {
			level = slog.LevelDebug // probes and scrapes every few seconds would drown the rest
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.String("user_id", facts.user),
			slog.String("request_id", facts.requestID))
	})
}

// describe is the router's first middleware: it tells observe the route template, and
// once the handlers ran, the request id and the authenticated user.
func (s *Server) describe(c *gin.Context) {
	facts, _ := c.Request.Context().Value(factsKey{}).(*requestFacts)
	if facts == nil {
		c.Next()
		return
	}
	facts.route = c.FullPath()
	if facts.route == "" {
		facts.route = "unmatched"
	}
	c.Next()
	facts.requestID = requestIDOf(c)
	facts.user = claims(c).UserID
}

// mountOf names a request the router never saw by its mount's prefix.
func (s *Server) mountOf(path string) string {
	best := ""
	for prefix := range s.Mounts {
		if strings.HasPrefix(path, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return "unmatched"
	}
	return best
}

// statusWriter remembers the status a handler wrote. It keeps what the live
// transports need of the writer underneath: flushing (SSE), hijacking (WebSocket) and
// deadlines (through Unwrap, for http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status  int
	upgrade bool // the client asked to switch protocols (WebSocket)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("httpapi: the connection cannot be hijacked")
	}
	// A hijacked connection answers for itself: a WebSocket switches protocols; the
	// SSE transport writes its own 200 on the connection it takes over.
	if w.status == 0 {
		w.status = http.StatusOK
		if w.upgrade {
			w.status = http.StatusSwitchingProtocols
		}
	}
	return h.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
