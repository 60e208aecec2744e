package event

import (
	"bytes"
	"time"
)

// canonical is metadata as parseCanonical found it: the fields are the raw bytes
// between the quotes, sub-slices of the metadata (nothing is copied).
type canonical struct {
	eventID, occurredAt, userID, correlationID, causationID, chain []byte
	at                                                             time.Time
	schemaVersion, chainVersion                                    int
}

// metadata is the Metadata the fields decode to.
func (c canonical) metadata() Metadata {
	return Metadata{EventID: string(c.eventID), OccurredAt: c.at, UserID: string(c.userID),
		CorrelationID: string(c.correlationID), CausationID: string(c.causationID),
		SchemaVersion: c.schemaVersion, Chain: string(c.chain), ChainVersion: c.chainVersion}
}

// utc says whether occurredAt is written in UTC, as Chained writes it: then its bytes
// are exactly the time the link covers.
func (c canonical) utc() bool {
	return len(c.occurredAt) > 0 && c.occurredAt[len(c.occurredAt)-1] == 'Z'
}

// parseCanonical decodes metadata that is byte for byte what encoding/json writes for
// a Metadata whose strings need no escaping, which is every metadata scanledger
// writes. It is the fast path of verification (decoding and re-encoding with
// encoding/json cost most of a check); ok is false for anything else, and the caller
// takes the slow path, which decides. Because it accepts only the exact bytes the
// encoder would produce, ok also proves the bytes are canonical.
func parseCanonical(b []byte) (m canonical, ok bool) {
	p := canonParser{b: b}
	if !p.lit(`{"eventId":`) {
		return m, false
	}
	if m.eventID, ok = p.str(); !ok || !p.lit(`,"occurredAt":`) {
		return m, false
	}
	if m.occurredAt, ok = p.str(); !ok {
		return m, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(m.occurredAt))
	var buf [64]byte
	if err != nil || !bytes.Equal(t.AppendFormat(buf[:0], time.RFC3339Nano), m.occurredAt) {
		return m, false
	}
	m.at = t
	for _, f := range []struct {
		key string
		dst *[]byte
	}{{`,"userId":`, &m.userID}, {`,"correlationId":`, &m.correlationID}, {`,"causationId":`, &m.causationID}} {
		if p.lit(f.key) {
			// omitempty: a present field is never empty.
			if *f.dst, ok = p.str(); !ok || len(*f.dst) == 0 {
				return m, false
			}
		}
	}
	if !p.lit(`,"schemaVersion":`) {
		return m, false
	}
	if m.schemaVersion, ok = p.num(); !ok || !p.lit(`,"chain":`) {
		return m, false
	}
	if m.chain, ok = p.str(); !ok {
		return m, false
	}
	if p.lit(`,"chainVersion":`) {
		if m.chainVersion, ok = p.num(); !ok || m.chainVersion == 0 {
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
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str reads a JSON string made only of printable ASCII that encoding/json writes as
// it is (no quote, backslash or HTML-escaped character), and returns its bytes.
func (p *canonParser) str() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[p.i+1 : j]
			p.i = j + 1
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&':
			return nil, false
		}
	}
	return nil, false
}

// num reads a decimal integer as encoding/json writes it: no leading zero, no "-0".
// Longer numbers than any version needs are refused (the slow path decides them).
func (p *canonParser) num() (int, bool) {
	j, neg := p.i, false
	if j < len(p.b) && p.b[j] == '-' {
		j, neg = j+1, true
	}
	start, n := j, 0
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		n = n*10 + int(p.b[j]-'0')
		j++
	}
	switch digits := j - start; {
	case digits == 0 || digits > 9:
		return 0, false
	case p.b[start] == '0' && (digits > 1 || neg):
		return 0, false
	}
	if neg {
		n = -n
	}
	p.i = j
	return n, true
}
