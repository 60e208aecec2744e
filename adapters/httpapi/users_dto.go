package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
)

// Request bodies of the account and checklist routes are decoded into `any` fields and
// checked here, rather than into typed fields, so that a wrong type gets the same
// message the original's class-validator DTOs gave ("email must be an email"), listed
// with every other problem in one 400.

// problems collects validation messages in DTO field order.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &domain.Error{Code: domain.EINVALID, Message: p[0], Details: p}
}

// email is IsEmail: absent, null and non-strings fail like a malformed address.
func (p *problems) email(name string, v any, optional bool) string {
	if v == nil && optional {
		return ""
	}
	s, _ := v.(string)
	if !account.ValidEmail(strings.TrimSpace(s)) {
		p.add("%s must be an email", name)
	}
	return s
}

// password is IsString and MinLength(6), and MaxLength(max) of our own unless max is 0.
func (p *problems) password(name string, v any, optional bool, max int) string {
	if v == nil && optional {
		return ""
	}
	s, isString := v.(string)
	n := utf8.RuneCountInString(s)
	if !isString || n < account.MinPasswordLength {
		p.add("%s must be longer than or equal to %d characters", name, account.MinPasswordLength)
	}
	if max > 0 && n > max {
		p.add("%s must be shorter than or equal to %d characters", name, max)
	}
	if !isString {
		p.add("%s must be a string", name)
	}
	return s
}

// text is IsString and MaxLength(max), plus IsNotEmpty when required.
func (p *problems) text(name string, v any, max int, required bool) *string {
	if v == nil && !required {
		return nil
	}
	s, isString := v.(string)
	if !isString || utf8.RuneCountInString(s) > max {
		p.add("%s must be shorter than or equal to %d characters", name, max)
	}
	if required && s == "" {
		p.add("%s should not be empty", name)
	}
	if !isString {
		p.add("%s must be a string", name)
		return nil
	}
	return &s
}

func (p *problems) jwt(name string, v any) string {
	s, _ := v.(string)
	if !jwtShaped(s) {
		p.add("%s must be a jwt string", name)
	}
	return s
}

// jwtShaped is validator.js's isJWT: two or three dot-separated segments of base64 (url
// or standard alphabet, and '~'), each with at most two '=' of padding.
func jwtShaped(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 2 && len(parts) != 3 {
		return false
	}
	for _, seg := range parts {
		body := strings.TrimRight(seg, "=")
		if body == "" || len(seg)-len(body) > 2 {
			return false
		}
		for _, r := range body {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_~+/", r)) {
				return false
			}
		}
	}
	return true
}

// checklistRequest is UpdateChecklistDto {name?: IsString, version?: IsNumber,
// itemsRaw?: IsObject}. itemsRaw stays raw: its key order is meaningful.
type checklistRequest struct {
	Name     any             `json:"name"`
	Version  any             `json:"version"`
	ItemsRaw json.RawMessage `json:"itemsRaw"`
}

// patch validates the request. A version must also be a whole number that fits the
// column (the original let 1.5 through to a database error); 0 is ignored, as the
// original ignored a falsy version.
func (r checklistRequest) patch() (account.ChecklistPatch, error) {
	var p problems
	var out account.ChecklistPatch
	out.Name = p.text("name", r.Name, account.MaxChecklistNameLength, false)
	switch v := r.Version.(type) {
	case nil:
	case float64:
		switch {
		case v != math.Trunc(v):
			p.add("version must be an integer number")
		case v < 0:
			p.add("version must not be less than 0")
		case v > math.MaxInt32:
			p.add("version must not be greater than %d", math.MaxInt32)
		default:
			out.Version = int(v)
		}
	default:
		p.add("version must be a number conforming to the specified constraints")
	}
	if raw := bytes.TrimSpace(r.ItemsRaw); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if raw[0] != '{' {
			p.add("itemsRaw must be an object")
		} else {
			out.ItemsRaw = json.RawMessage(raw)
		}
	}
	return out, p.err()
}
