package accounts

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidEmail reports whether s is an email address by the rules of the original's
// class-validator IsEmail (validator.js isEmail with its defaults), minus the rarely
// used forms it also allows (quoted local parts, display names): a dot-atom local part
// of at most 64 bytes, '@', and a domain name of at least two labels whose last is a
// top-level domain of letters; 254 bytes at most.
func ValidEmail(s string) bool {
	if len(s) > 254 || !utf8.ValidString(s) {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	return validLocal(s[:at]) && validDomain(s[at+1:])
}

func validLocal(l string) bool {
	if len(l) > 64 {
		return false
	}
	for _, atom := range strings.Split(l, ".") {
		if atom == "" { // leading, trailing or doubled dot
			return false
		}
		for _, r := range atom {
			if !(r > 127 && unicode.IsPrint(r) && !unicode.IsSpace(r)) && !isAtext(r) {
				return false
			}
		}
	}
	return true
}

// isAtext is RFC 5322's atext in ASCII.
func isAtext(r rune) bool {
	return r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r))
}

func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || utf8.RuneCountInString(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') ||
				r > 127 && unicode.IsLetter(r)) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(strings.ToLower(tld), "xn--") {
		return len(tld) > 4
	}
	if utf8.RuneCountInString(tld) < 2 {
		return false
	}
	for _, r := range tld {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// emailKey is the form emails are compared in: trimmed and lower-cased, in Go, so that
// both engines agree on which addresses are the same.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
