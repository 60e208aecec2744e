package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
)

// statusOf is the one table from domain error codes to HTTP statuses.
var statusOf = map[string]int{
	domain.EINVALID:      http.StatusBadRequest,
	domain.EUNAUTHORIZED: http.StatusUnauthorized,
	domain.EFORBIDDEN:    http.StatusForbidden,
	domain.ENOTFOUND:     http.StatusNotFound,
	domain.ECONFLICT:     http.StatusConflict,
	domain.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	domain.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	domain.ERATELIMIT:    http.StatusTooManyRequests,
	domain.EUNAVAILABLE:  http.StatusServiceUnavailable,
	domain.ENOSPACE:      http.StatusInsufficientStorage,
	domain.ETIMEOUT:      http.StatusRequestTimeout,
	domain.EINTERNAL:     http.StatusInternalServerError,
}

// retryAfterSeconds is the Retry-After of a 503: the service reconnects to its
// dependencies within seconds of their return (docs/operations.md).
const retryAfterSeconds = 2

// ready asks the readiness check, briefly, whether the service's dependencies answer.
func (s *Server) ready(ctx context.Context) bool {
	if s.Ready == nil {
		return true
	}
	// Not the request's context: a client that hung up says nothing about the database.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	return s.Ready(ctx) == nil
}

// errorBody is the original backend's error shape (contract section 1.3): message is an
// array of strings for 400 and a string otherwise; error only on 400.
type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    any    `json:"message"`
	Error      string `json:"error,omitempty"`
	Timestamp  string `json:"timestamp"`
	Path       string `json:"path"`
	Method     string `json:"method"`
	RequestID  string `json:"requestId,omitempty"`
}

// writeError answers with err's status and the contract's error body. Internal errors
// are logged with their cause and shown as a generic message.
func (s *Server) writeError(c *gin.Context, err error) {
	code := domain.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusInternalServerError && !s.ready(c.Request.Context()) {
		// A fault while a dependency is down (a dropped connection the database
		// driver did not name as such) is the outage, not a bug: the client should
		// come back, not report it.
		err = fmt.Errorf("%w: %w", domain.Errorf(domain.EUNAVAILABLE, "Service temporarily unavailable"), err)
		status = http.StatusServiceUnavailable
	}
	if status == http.StatusRequestTimeout {
		c.Header("Connection", "close") // the rest of a stalled body is never read
	}
	// Too many attempts (login, signup, account deletion): say when to come back.
	var rl *account.RateLimitError
	if errors.As(err, &rl) {
		c.Header("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds()+0.999)))
	}
	switch {
	case status == http.StatusServiceUnavailable:
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
		s.log.Warn("request refused: a dependency is unavailable", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	case status >= 500:
		s.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	}
	body := errorBody{
		StatusCode: status,
		Timestamp:  time.Now().UTC().Format(timeFormat),
		Path:       c.Request.URL.Path,
		Method:     c.Request.Method,
		RequestID:  requestIDOf(c),
	}
	msg := domain.ErrorMessage(err)
	if status == http.StatusBadRequest {
		lines := []string{msg}
		var de *domain.Error
		if errors.As(err, &de) && len(de.Details) > 0 {
			lines = de.Details
		}
		body.Message, body.Error = lines, "Bad Request"
	} else {
		body.Message = msg
	}
	c.AbortWithStatusJSON(status, body)
}

// notFoundRoute answers unknown routes like the original: 404 "Cannot GET /path".
func (s *Server) notFoundRoute(c *gin.Context) {
	s.writeError(c, domain.Errorf(domain.ENOTFOUND, "Cannot %s %s", c.Request.Method, c.Request.URL.Path))
}

// timeFormat is ISO-8601 UTC with milliseconds, as JSON.stringify writes dates.
const timeFormat = "2006-01-02T15:04:05.000Z"

func isoTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func isoTimePtr(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := isoTime(*t)
	return &s
}

// logRecover turns a panic into a 500 with the contract's body and logs it.
func (s *Server) logRecover(c *gin.Context, rec any) {
	s.log.Error("panic", "path", c.Request.URL.Path, "panic", rec)
	s.writeError(c, errors.New("panic"))
}
