package domain

import "unicode/utf8"

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
