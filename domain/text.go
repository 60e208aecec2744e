package domain

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"
)

// ValidText reports whether s can be stored as text by every engine scanledger runs on
// and shown safely: valid UTF-8 without control characters other than tab, line feed
// and carriage return. PostgreSQL refuses NUL in text and in JSON, and any invalid
// UTF-8; the other controls have no place in names, addresses or checklists and would
// only confuse whoever reads them later.
func ValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == '\t', b == '\n', b == '\r':
		case b < 0x20, b == 0x7f:
			return false
		}
	}
	return true
}

// CheckText returns an EINVALID error naming field when s is not ValidText. Every text
// a client gives goes through it before it is stored or becomes part of an event, so a
// projection never meets a value its database cannot hold.
func CheckText(field, s string) error {
	if !ValidText(s) {
		return Errorf(EINVALID, "%s must not contain control characters or invalid UTF-8", field)
	}
	return nil
}

// ValidJSONText reports whether raw is valid UTF-8 and every string and object key in
// the JSON document is ValidText once its escapes are read: PostgreSQL's jsonb refuses
// \u0000 as its text refuses NUL. Empty raw holds no text and is valid; raw that is
// not JSON is not.
func ValidJSONText(raw []byte) bool {
	if len(raw) == 0 {
		return true
	}
	if !utf8.Valid(raw) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && !ValidText(s) {
			return false
		}
	}
}

// CleanText returns s with every invalid UTF-8 sequence and every control character
// ValidText refuses replaced by U+FFFD. It is for texts scanledger must record whatever
// they hold, such as another service's error message, where refusing would lose the
// record itself.
func CleanText(s string) string {
	if ValidText(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}
