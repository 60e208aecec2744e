package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Metadata is the envelope every scanledger event carries beside its data, stored as
// the event's metadata JSON.
type Metadata struct {
	EventID       string    `json:"eventId"`
	OccurredAt    time.Time `json:"occurredAt"`
	UserID        string    `json:"userId,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	CausationID   string    `json:"causationId,omitempty"`
	SchemaVersion int       `json:"schemaVersion"`
	// Chain links the event to its stream's history: see Link (and Chain for events
	// written before chain version 2).
	Chain string `json:"chain"`
	// ChainVersion says how Chain was computed: absent (0) for the first chain, which
	// covered only the id, type, schema version and data; ChainVersion2 for Link.
	ChainVersion int `json:"chainVersion,omitempty"`
}

// ChainVersion2 is the chain every new event is written with: see Link.
const ChainVersion2 = 2

// ParseMetadata decodes an event's metadata JSON.
func ParseMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return Metadata{}, fmt.Errorf("parse metadata: %w", err)
	}
	return m, nil
}

// Chain computes a chain version 1 link, the formula of events written before chain
// version 2:
//
//	hex(sha256(prev "\n" eventID "\n" type "\n" schemaVersion "\n" data))
//
// It does not cover the metadata, the stream or the version; it is kept only to verify
// those old events. New events use Link.
func Chain(prev, eventID, typ string, schemaVersion int, data []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write([]byte(eventID))
	h.Write([]byte{'\n'})
	h.Write([]byte(typ))
	h.Write([]byte{'\n'})
	h.Write([]byte(strconv.Itoa(schemaVersion)))
	h.Write([]byte{'\n'})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// Link computes a chain version 2 link: the SHA-256 of the previous link (the stream
// name for the first event) and of everything that says what the event is and where it
// stands: stream, version, id, type, schema version, occurredAt, userId, correlationId,
// causationId and the exact data bytes. Each field is length-prefixed, so no two
// different events hash the same input.
//
// A link alone is not secret: someone who can write the database can recompute a
// stream's links after an edit. Signed seals over every stream's head (domain/audit)
// are what catch that.
func Link(prev, stream string, version int64, typ string, m Metadata, data []byte) string {
	var buf [512]byte
	in := linkInput(buf[:0], prev, stream, version, m.EventID, typ, m.SchemaVersion,
		m.OccurredAt.UTC().Format(time.RFC3339Nano), m.UserID, m.CorrelationID, m.CausationID, len(data))
	sum := linkSum(in, data)
	return hex.EncodeToString(sum[:])
}

// linkSum is the SHA-256 of a link's input followed by the event's data, hashed where
// it lies: events reach a megabyte, and copying them behind the fields would cost more
// than the hash.
func linkSum(in, data []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(in)
	h.Write(data)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// linkInput appends to b what a chain version 2 link hashes before the data (see Link),
// occurredAt already formatted, ending with the data's length prefix: linkSum hashes
// the data after it. It takes strings or bytes so that verification can hash the
// metadata's own bytes without copying them into strings.
func linkInput[S1, S2 ~string | ~[]byte](b []byte, prev, stream string, version int64, eventID S1, typ string, schemaVersion int,
	occurredAt, userID, correlationID, causationID S2, dataLen int) []byte {
	var num [20]byte
	b = appendField(b, "scanledger-chain-v2")
	b = appendField(b, prev)
	b = appendField(b, stream)
	b = appendField(b, strconv.AppendInt(num[:0], version, 10))
	b = appendField(b, eventID)
	b = appendField(b, typ)
	b = appendField(b, strconv.AppendInt(num[:0], int64(schemaVersion), 10))
	b = appendField(b, occurredAt)
	b = appendField(b, userID)
	b = appendField(b, correlationID)
	b = appendField(b, causationID)
	return binary.BigEndian.AppendUint64(b, uint64(dataLen)) // appendField's prefix of the data
}

// appendField appends f with its length before it, so no two different events hash
// the same input.
func appendField[S ~string | ~[]byte](b []byte, f S) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
	return append(b, f...)
}

// Chained returns the event to append at version of stream after the link prev, with m
// completed (event id, schema version, chain) and encoded as its metadata, and the new
// link. Every writer of events goes through it, so every event is chained the same way.
func Chained(stream string, version int64, prev, id, typ string, schemaVersion int, data []byte, m Metadata) (Data, string, error) {
	m.EventID, m.SchemaVersion, m.ChainVersion = id, schemaVersion, ChainVersion2
	m.OccurredAt = m.OccurredAt.UTC()
	m.Chain = Link(prev, stream, version, typ, m, data)
	mb, err := json.Marshal(m)
	if err != nil {
		return Data{}, "", fmt.Errorf("encode metadata: %w", err)
	}
	return Data{ID: id, Type: typ, SchemaVersion: schemaVersion, Data: data, Metadata: mb}, m.Chain, nil
}

// VerifyError says where a stream's chain breaks.
type VerifyError struct {
	Stream  string
	Version int64
	EventID string
	Reason  string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%s: chain broken at version %d (event %s): %s", e.Stream, e.Version, e.EventID, e.Reason)
}

// ChainState follows one stream's chain event by event; its zero value with Stream set
// expects the stream's first event.
type ChainState struct {
	Stream  string
	Next    int64  // the version the next event must have
	Head    string // the last link ("" before the first event)
	Legacy  int64  // events accepted under chain version 1
	linkedV bool   // a version 2 link was seen: no version 1 link may follow
}

// Check verifies that e is the stream's next event and that its link matches, and
// advances the state. The error is a *VerifyError.
func (c *ChainState) Check(e Recorded) error {
	fail := func(reason string) error {
		return &VerifyError{Stream: c.Stream, Version: e.Version, EventID: e.ID, Reason: reason}
	}
	if e.Version != c.Next {
		return fail(fmt.Sprintf("expected version %d", c.Next))
	}
	f, canonical := parseCanonical(e.Metadata)
	if canonical && f.chainVersion == ChainVersion2 && f.utc() {
		return c.checkCanonical(e, f, fail)
	}
	var m Metadata
	if canonical {
		m = f.metadata()
	} else {
		var err error
		if m, err = ParseMetadata(e.Metadata); err != nil {
			return fail(err.Error())
		}
	}
	if m.EventID != e.ID {
		return fail("metadata eventId differs from the stored event id")
	}
	prev := c.Head
	if c.Next == 0 {
		prev = c.Stream
	}
	switch m.ChainVersion {
	case 0:
		// A version 1 link after a version 2 one can only be a downgrade to the weaker
		// chain: every writer moved to version 2 at once.
		if c.linkedV {
			return fail("chain version 1 link after a version 2 link")
		}
		if m.Chain != Chain(prev, e.ID, e.Type, e.SchemaVersion, e.Data) {
			return fail("chain value does not match the stored data")
		}
		c.Legacy++
	case ChainVersion2:
		if m.SchemaVersion != e.SchemaVersion {
			return fail("metadata schemaVersion differs from the stored schema version")
		}
		// The link covers the parsed fields; the bytes must be exactly what encoding
		// them gives, or something was added, removed or reformatted.
		if !canonical {
			if canon, err := json.Marshal(m); err != nil || !bytes.Equal(canon, e.Metadata) {
				return fail("metadata bytes were altered")
			}
		}
		if m.Chain != Link(prev, c.Stream, e.Version, e.Type, m, e.Data) {
			return fail("chain value does not match the stored event")
		}
		c.linkedV = true
	default:
		return fail(fmt.Sprintf("unknown chain version %d", m.ChainVersion))
	}
	c.Head, c.Next = m.Chain, c.Next+1
	return nil
}

// checkCanonical is Check for a chain version 2 event whose metadata is canonical and
// in UTC, which is every event scanledger writes: the same checks in the same order,
// but hashing the metadata's own bytes, with nothing decoded into strings and the
// link's input built on the stack.
func (c *ChainState) checkCanonical(e Recorded, f canonical, fail func(string) error) error {
	if string(f.eventID) != e.ID {
		return fail("metadata eventId differs from the stored event id")
	}
	if f.schemaVersion != e.SchemaVersion {
		return fail("metadata schemaVersion differs from the stored schema version")
	}
	prev := c.Head
	if c.Next == 0 {
		prev = c.Stream
	}
	var buf [512]byte
	in := linkInput(buf[:0], prev, c.Stream, e.Version, f.eventID, e.Type, f.schemaVersion,
		f.occurredAt, f.userID, f.correlationID, f.causationID, len(e.Data))
	sum := linkSum(in, e.Data)
	var link [2 * sha256.Size]byte
	hex.Encode(link[:], sum[:])
	if !bytes.Equal(link[:], f.chain) {
		return fail("chain value does not match the stored event")
	}
	c.linkedV = true
	c.Head, c.Next = string(f.chain), c.Next+1
	return nil
}

// Verify recomputes the hash chain over a whole stream, read from version 0 in order,
// and returns a *VerifyError at the first event that does not match. It proves the
// stream is consistent with itself; that it is the stream that was written needs a
// seal (domain/audit).
func Verify(stream string, events []Recorded) error {
	c := ChainState{Stream: stream}
	for _, e := range events {
		if err := c.Check(e); err != nil {
			return err
		}
	}
	return nil
}
