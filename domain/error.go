// Package domain holds scanledger's vocabulary: the error type every layer speaks, and
// identifiers. Subpackages hold the event store port, the Scan aggregate, checklists and
// the analysis contract. Nothing under domain imports anything outside the standard library.
package domain

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in adapters/httpapi; no other layer
// knows about HTTP.
const (
	EINVALID      = "invalid"      // the request is malformed or breaks a rule (400)
	EUNAUTHORIZED = "unauthorized" // no or bad credentials (401)
	EFORBIDDEN    = "forbidden"    // authenticated but not allowed (403)
	ENOTFOUND     = "not_found"    // the thing does not exist for this caller (404)
	ECONFLICT     = "conflict"     // a concurrent change won, or the thing already exists (409)
	ETOOLARGE     = "too_large"    // a size or count limit was exceeded (413)
	EUNSUPPORTED  = "unsupported"  // unsupported media type (415)
	ERATELIMIT    = "rate_limited" // too many attempts (429)
	EUNAVAILABLE  = "unavailable"  // a dependency is down; try again later (503)
	ENOSPACE      = "no_space"     // the server's storage is full (507)
	ETIMEOUT      = "timeout"      // the client sent its request too slowly (408)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
)

// Error is the one error type that carries a code and a message safe to show a user.
// Wrap it with fmt.Errorf("...: %w", err) for context; Code and Message dig it out again.
type Error struct {
	Code    string
	Message string
	// Details are extra user-facing lines (validation errors list every problem).
	Details []string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, &Error{Code: X}) match any error of code X, so sentinels
// such as event.ErrWrongExpectedVersion compare by identity and codes compare by value.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if e == t {
		return true
	}
	return t.Message == "" && t.Code == e.Code
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL when there
// is none, and "" for a nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the *Error's message, or a
// generic text for internal errors so their details never leak to clients.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal server error"
}
