package event_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/scanledger/scanledger/domain/event"
)

// Stored metadata decodes to a value that encodes and decodes to itself, or is refused.
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"eventId":"e","occurredAt":"2025-10-19T12:00:00Z","userId":"u","correlationId":"c","causationId":"c","schemaVersion":1,"chain":"x"}`,
		`{"occurredAt":"not a time"}`, `[]`, `null`, `{"schemaVersion":1e99}`, `{"chain":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := event.ParseMetadata(b)
		if err != nil {
			return
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		again, err := event.ParseMetadata(enc)
		// Offsets decode to distinct but equal zones: compare instants.
		m.OccurredAt, again.OccurredAt = m.OccurredAt.UTC(), again.OccurredAt.UTC()
		if err != nil || !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip of %q: %s decodes to %+v, %v; want %+v", b, enc, again, err, m)
		}
	})
}
