package socketio_test

import (
	"bytes"
	"testing"

	"github.com/scanledger/scanledger/adapters/socketio"
)

// A WebSocket text frame decodes to one Engine.IO packet that encodes back to the same
// bytes, or is refused; binary and unknown packet types are refused.
func FuzzDecodeEnginePacket(f *testing.F) {
	for _, seed := range []string{"", "2", "3probe", "40/scans,{}", "b", "bAQID", "7", "9x", "6"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := socketio.DecodeEnginePacket(frame)
		if err != nil {
			return
		}
		if frame[0] == 'b' {
			t.Fatalf("binary frame %q accepted", frame)
		}
		if enc := socketio.AppendEnginePacket(nil, p); !bytes.Equal(enc, frame) {
			t.Fatalf("round trip: %q became %q", frame, enc)
		}
	})
}
