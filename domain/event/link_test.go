package event_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/event"
)

// A chain version 2 link is the SHA-256 of its fields, each prefixed with its length as
// 8 big-endian bytes, the data last. Links already stored were made that way: this
// spells the layout out byte for byte, so a faster way of hashing cannot change it.
func TestLinkHashesLengthPrefixedFieldsThenTheData(t *testing.T) {
	data := []byte(`{"address":"` + strings.Repeat("x", 4096) + `"}`) // larger than any stack buffer
	at := time.Date(2026, 12, 4, 17, 0, 0, 123, time.UTC)
	m := event.Metadata{EventID: "e1", SchemaVersion: 2, OccurredAt: at, UserID: "u1", CorrelationID: "c1", CausationID: "k1"}
	var in []byte
	for _, f := range []string{"scanledger-chain-v2", "prev", "scan-1", "7", "e1", "Created", "2",
		at.Format(time.RFC3339Nano), "u1", "c1", "k1", string(data)} {
		in = binary.BigEndian.AppendUint64(in, uint64(len(f)))
		in = append(in, f...)
	}
	want := sha256.Sum256(in)
	if got := event.Link("prev", "scan-1", 7, "Created", m, data); got != hex.EncodeToString(want[:]) {
		t.Fatalf("link = %s, want %x", got, want)
	}
}
