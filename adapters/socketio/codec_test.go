package socketio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/socketio"
)

func TestEnginePacketDecodesTypeDigitAndData(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want socketio.EnginePacket
	}{
		{"0{\"sid\":\"x\"}", socketio.EnginePacket{Type: socketio.EngineOpen, Data: []byte(`{"sid":"x"}`)}},
		{"1", socketio.EnginePacket{Type: socketio.EngineClose, Data: []byte{}}},
		{"2probe", socketio.EnginePacket{Type: socketio.EnginePing, Data: []byte("probe")}},
		{"3", socketio.EnginePacket{Type: socketio.EnginePong, Data: []byte{}}},
		{"4hello", socketio.EnginePacket{Type: socketio.EngineMessage, Data: []byte("hello")}},
		{"5", socketio.EnginePacket{Type: socketio.EngineUpgrade, Data: []byte{}}},
		{"6", socketio.EnginePacket{Type: socketio.EngineNoop, Data: []byte{}}},
	} {
		got, err := socketio.DecodeEnginePacket([]byte(tc.in))
		if err != nil || got.Type != tc.want.Type || !bytes.Equal(got.Data, tc.want.Data) {
			t.Errorf("DecodeEnginePacket(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if enc := socketio.AppendEnginePacket(nil, got); string(enc) != tc.in {
			t.Errorf("AppendEnginePacket = %q, want %q", enc, tc.in)
		}
	}
}

func TestEnginePacketRejectsEmptyUnknownAndBinary(t *testing.T) {
	for _, in := range []string{"", "7", "x", "bAQID", "\x1e"} {
		if p, err := socketio.DecodeEnginePacket([]byte(in)); err == nil {
			t.Errorf("DecodeEnginePacket(%q) = %+v, want an error", in, p)
		}
	}
}

func TestEnginePayloadSplitsOnRecordSeparatorAndRoundTrips(t *testing.T) {
	in := "40/scans,{\"token\":\"t\"}\x1e3\x1e42/scans,[\"a\",\"x\\u001ey\"]"
	got, err := socketio.DecodeEnginePayload([]byte(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []socketio.EnginePacket{
		{Type: socketio.EngineMessage, Data: []byte(`0/scans,{"token":"t"}`)},
		{Type: socketio.EnginePong, Data: []byte{}},
		{Type: socketio.EngineMessage, Data: []byte(`2/scans,["a","x\u001ey"]`)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("packet %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if enc := socketio.AppendEnginePayload(nil, got...); string(enc) != in {
		t.Errorf("AppendEnginePayload = %q, want %q", enc, in)
	}
}

func TestEnginePayloadRejectsEmptyPacketsBinaryAndOversize(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
	}{
		{"empty", "", 0},
		{"trailing separator", "3\x1e", 0},
		{"leading separator", "\x1e3", 0},
		{"binary packet", "3\x1ebAQID", 0},
		{"unknown type", "3\x1e8", 0},
		{"over max payload", strings.Repeat("3\x1e", 50) + "3", 100},
	} {
		if got, err := socketio.DecodeEnginePayload([]byte(tc.in), tc.max); err == nil {
			t.Errorf("%s: DecodeEnginePayload(%q) = %+v, want an error", tc.name, tc.in, got)
		}
	}
}

func TestSocketIOPacketDecodesTheFormsSocketIOClientSends(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want socketio.Packet
	}{
		{"0", socketio.Packet{Type: socketio.PacketConnect, Namespace: "/"}},
		{`0{"token":"t"}`, socketio.Packet{Type: socketio.PacketConnect, Namespace: "/", Data: json.RawMessage(`{"token":"t"}`)}},
		{`0/scans,{"token":"t","pid":"p","offset":"7"}`, socketio.Packet{Type: socketio.PacketConnect, Namespace: "/scans", Data: json.RawMessage(`{"token":"t","pid":"p","offset":"7"}`)}},
		{"0/scans,", socketio.Packet{Type: socketio.PacketConnect, Namespace: "/scans"}},
		{"1/scans,", socketio.Packet{Type: socketio.PacketDisconnect, Namespace: "/scans"}},
		{"1/scans", socketio.Packet{Type: socketio.PacketDisconnect, Namespace: "/scans"}},
		{`2["hello",1]`, socketio.Packet{Type: socketio.PacketEvent, Namespace: "/", Data: json.RawMessage(`["hello",1]`)}},
		{`2/scans,12["hello"]`, socketio.Packet{Type: socketio.PacketEvent, Namespace: "/scans", HasID: true, ID: 12, Data: json.RawMessage(`["hello"]`)}},
		{`2/scans,0[42]`, socketio.Packet{Type: socketio.PacketEvent, Namespace: "/scans", HasID: true, ID: 0, Data: json.RawMessage(`[42]`)}},
		{`3/scans,7["ok"]`, socketio.Packet{Type: socketio.PacketAck, Namespace: "/scans", HasID: true, ID: 7, Data: json.RawMessage(`["ok"]`)}},
		{`4{"message":"no"}`, socketio.Packet{Type: socketio.PacketConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"no"}`)}},
		{`4/scans,"no"`, socketio.Packet{Type: socketio.PacketConnectError, Namespace: "/scans", Data: json.RawMessage(`"no"`)}},
	} {
		got, err := socketio.DecodePacket([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DecodePacket(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestSocketIOPacketRejectsWhatSocketIOParserRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"7",
		"a",
		`0/scans,["not","an","object"]`,
		`0/scans,"string"`,
		`1/scans,{}`,
		`2/scans,{"a":1}`,
		`2/scans,[]`,
		`2/scans,[{"a":1}]`,
		`2/scans,["connect"]`,
		`2/scans,["disconnecting"]`,
		`2/scans,["a"`,
		`3/scans,1{}`,
		`4/scans,[1]`,
		`51-/scans,["upload",{"_placeholder":true,"num":0}]`,
		`60-/scans,1[]`,
		`5-["a"]`,
		`5x-["a"]`,
		`5["a"]`,
		`2/scans,99999999999999999999["a"]`,
	} {
		if p, err := socketio.DecodePacket([]byte(in)); err == nil {
			t.Errorf("DecodePacket(%q) = %+v, want an error", in, p)
		}
	}
}

func TestSocketIOPacketEncodesNamespaceOnlyWhenNotRoot(t *testing.T) {
	for _, tc := range []struct {
		p    socketio.Packet
		want string
	}{
		{socketio.Packet{Type: socketio.PacketConnect, Namespace: "/scans", Data: json.RawMessage(`{"sid":"s","pid":"p"}`)}, `0/scans,{"sid":"s","pid":"p"}`},
		{socketio.Packet{Type: socketio.PacketConnect, Namespace: "/"}, `0`},
		{socketio.Packet{Type: socketio.PacketConnectError, Data: json.RawMessage(`{"message":"x"}`)}, `4{"message":"x"}`},
		{socketio.Packet{Type: socketio.PacketDisconnect, Namespace: "/scans"}, `1/scans,`},
		{socketio.Packet{Type: socketio.PacketEvent, Namespace: "/scans", HasID: true, ID: 0, Data: json.RawMessage(`["a"]`)}, `2/scans,0["a"]`},
		{socketio.Packet{Type: socketio.PacketBinaryEvent, Namespace: "/scans", Data: json.RawMessage(`["a"]`)}, `50-/scans,["a"]`},
	} {
		if got := socketio.AppendPacket(nil, tc.p); string(got) != tc.want {
			t.Errorf("AppendPacket(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func FuzzDecodeEnginePayload(f *testing.F) {
	for _, seed := range []string{
		"", "3", "40/scans,{}\x1e3", "\x1e", "3\x1e", "bAQID", "4\x1e4\x1e4", "6\x1e1",
		"42/scans,[\"a\",{\"b\":1},\"1\"]",
	} {
		f.Add([]byte(seed))
	}
	const maxPayload = 4096
	f.Fuzz(func(t *testing.T, payload []byte) {
		packets, err := socketio.DecodeEnginePayload(payload, maxPayload)
		if err != nil {
			return
		}
		if len(payload) > maxPayload {
			t.Fatalf("accepted %d bytes over the %d byte limit", len(payload), maxPayload)
		}
		// Each packet takes at least one byte of input: the result is bounded by it.
		if len(packets) > len(payload) {
			t.Fatalf("%d packets from %d bytes", len(packets), len(payload))
		}
		if enc := socketio.AppendEnginePayload(nil, packets...); !bytes.Equal(enc, payload) {
			t.Fatalf("round trip: %q became %q", payload, enc)
		}
	})
}

func FuzzDecodePacket(f *testing.F) {
	for _, seed := range []string{
		"0", "0/scans,{\"token\":\"t\"}", "1/scans,", "2[\"a\",1]", "2/scans,12[\"a\"]", "3/x,1[]",
		"4{\"message\":\"m\"}", "4\"m\"", "51-/scans,[\"a\",{\"_placeholder\":true,\"num\":0}]",
		"2/scans,99999999999999999999[\"a\"]", "0/,", "2 [\"a\"]", "2/scans,[\"connect\"]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := socketio.DecodePacket(b)
		if err != nil {
			return
		}
		if p.Type == socketio.PacketBinaryEvent || p.Type == socketio.PacketBinaryAck {
			t.Fatalf("binary packet %q accepted", b)
		}
		if len(p.Data) > len(b) || len(p.Namespace) > len(b) {
			t.Fatalf("decoded more than the input: %+v from %q", p, b)
		}
		enc := socketio.AppendPacket(nil, p)
		q, err := socketio.DecodePacket(enc)
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip of %q: %q decodes to %+v, %v; want %+v", b, enc, q, err, p)
		}
	})
}

func FuzzPollingPostNeverBreaksTheServer(f *testing.F) {
	for _, seed := range []string{
		`40/scans,{"token":"good"}`, `40/scans,{"token":"bad"}`, "40", "41/scans,", "3", "1", "6",
		`42/scans,["a"]` + "\x1e" + `40/scans,{}`, `451-/scans,["a",{"_placeholder":true,"num":0}]`,
	} {
		f.Add([]byte(seed))
	}
	srv := &socketio.Server{
		Namespace:      "/scans",
		MaxPayload:     4096,
		ConnectTimeout: 50 * time.Millisecond,
		Connect: func(ctx context.Context, r *http.Request, auth json.RawMessage) (*socketio.Session, error) {
			if !bytes.Contains(auth, []byte(`"good"`)) {
				return nil, errors.New("invalid token")
			}
			return &socketio.Session{}, nil
		},
	}
	f.Cleanup(srv.Close)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
		data, ok := strings.CutPrefix(rec.Body.String(), "0")
		var open struct{ SID string }
		if !ok || json.Unmarshal([]byte(data), &open) != nil {
			t.Fatalf("handshake: %q", rec.Body.String())
		}
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/socket.io/?EIO=4&transport=polling&sid="+open.SID, bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("POST %q: status %d", body, rec.Code)
		}
	})
}
