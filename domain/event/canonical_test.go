package event

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The fast path must agree with encoding/json on everything it accepts, and accept
// what scanledger writes.
func TestCanonicalParsingAgreesWithEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(options ...string) string { return options[r.IntN(len(options))] }
	for i := range 2000 {
		m := Metadata{
			EventID:       pick("01a23cb2-b88a-7e3d-9604-33ba49174ed5", "e", ""),
			OccurredAt:    time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC(),
			UserID:        pick("", "u1", "a<b", "ü", `q"uote`),
			CorrelationID: pick("", "req-1", "job:x:1"),
			CausationID:   pick("", "c", "back\\slash"),
			SchemaVersion: r.IntN(3),
			Chain:         pick("abc", "", "ff00"),
			ChainVersion:  pick2(r),
		}
		b, _ := json.Marshal(m)
		c, ok := parseCanonical(b)
		fast := c.metadata()
		simple := !strings.ContainsAny(m.UserID+m.CausationID, "<ü\"\\")
		if ok != simple {
			t.Fatalf("%d: %s: accepted %t", i, b, ok)
		}
		if ok && !reflect.DeepEqual(fast, m) {
			t.Fatalf("%d: %s: fast %+v, want %+v", i, b, fast, m)
		}
	}
	// Not the encoder's bytes: refused, whatever they mean.
	for _, b := range []string{
		`{"eventId":"e","occurredAt":"2026-01-01T00:00:00Z","schemaVersion":1,"chain":"c"} `,
		`{"eventId":"e", "occurredAt":"2026-01-01T00:00:00Z","schemaVersion":1,"chain":"c"}`,
		`{"eventId":"e","occurredAt":"2026-01-01T00:00:00.000Z","schemaVersion":1,"chain":"c"}`,
		`{"eventId":"e","occurredAt":"2026-01-01T00:00:00Z","userId":"","schemaVersion":1,"chain":"c"}`,
		`{"eventId":"e","occurredAt":"2026-01-01T00:00:00Z","schemaVersion":01,"chain":"c"}`,
		`{"eventId":"e","occurredAt":"2026-01-01T00:00:00Z","schemaVersion":1,"chain":"c","chainVersion":0}`,
		`{"eventId":"e","occurredAt":"2026-01-01T00:00:00Z","schemaVersion":1,"chain":"c","note":1}`,
		`{"note":1,"eventId":"e","occurredAt":"2026-01-01T00:00:00Z","schemaVersion":1,"chain":"c"}`,
	} {
		if _, ok := parseCanonical([]byte(b)); ok {
			t.Errorf("accepted %s", b)
		}
	}
}

func pick2(r *rand.Rand) int {
	if r.IntN(2) == 0 {
		return 0
	}
	return ChainVersion2
}
