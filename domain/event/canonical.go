package event

import (
	"bytes"
	"strconv"
	"time"
)

// parseCanonical decodes metadata that is byte for byte what encoding/json writes for
// a Metadata whose strings need no escaping, which is every metadata scanledger
// writes. It is the fast path of verification (decoding and re-encoding with
// encoding/json cost most of a check); ok is false for anything else, and the caller
// takes the slow path, which decides. Because it accepts only the exact bytes the
// encoder would produce, ok also proves the bytes are canonical.
func parseCanonical(b []byte) (m Metadata, ok bool) {
	p := canonParser{b: b}
	if !p.lit(`{"eventId":`) {
		return m, false
	}
	if m.EventID, ok = p.str(); !ok || !p.lit(`,"occurredAt":`) {
		return m, false
	}
	at, ok := p.str()
	if !ok {
		return m, false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil || t.Format(time.RFC3339Nano) != at {
		return m, false
	}
	m.OccurredAt = t
	for _, f := range []struct {
		key string
		dst *string
	}{{`,"userId":`, &m.UserID}, {`,"correlationId":`, &m.CorrelationID}, {`,"causationId":`, &m.CausationID}} {
		if p.lit(f.key) {
			// omitempty: a present field is never empty.
			if *f.dst, ok = p.str(); !ok || *f.dst == "" {
				return m, false
			}
		}
	}
	if !p.lit(`,"schemaVersion":`) {
		return m, false
	}
	if m.SchemaVersion, ok = p.num(); !ok || !p.lit(`,"chain":`) {
		return m, false
	}
	if m.Chain, ok = p.str(); !ok {
		return m, false
	}
	if p.lit(`,"chainVersion":`) {
		if m.ChainVersion, ok = p.num(); !ok || m.ChainVersion == 0 {
			return m, false
		}
	}
	return m, p.lit("}") && p.i == len(p.b)
}

type canonParser struct {
	b []byte
	i int
}

func (p *canonParser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// str reads a JSON string made only of printable ASCII that encoding/json writes as
// it is (no quote, backslash or HTML-escaped character).
func (p *canonParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := string(p.b[p.i+1 : j])
			p.i = j + 1
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&':
			return "", false
		}
	}
	return "", false
}

// num reads a decimal integer as encoding/json writes it.
func (p *canonParser) num() (int, bool) {
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	s := string(p.b[p.i:j])
	n, err := strconv.Atoi(s)
	if err != nil || strconv.Itoa(n) != s {
		return 0, false
	}
	p.i = j
	return n, true
}
