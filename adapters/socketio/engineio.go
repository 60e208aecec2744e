package socketio

import (
	"bytes"
	"errors"
	"fmt"
)

// EngineType is the type of an Engine.IO v4 packet. On the wire it is one ASCII digit
// in front of the packet's data.
type EngineType byte

// The Engine.IO v4 packet types.
const (
	EngineOpen EngineType = iota
	EngineClose
	EnginePing
	EnginePong
	EngineMessage
	EngineUpgrade
	EngineNoop
)

// EnginePacket is one Engine.IO packet in its text form.
type EnginePacket struct {
	Type EngineType
	Data []byte
}

// recordSeparator joins packets in a long-polling payload. Text packets never contain
// it: every text packet this server emits is JSON, which must escape control characters.
const recordSeparator = 0x1e

// DecodeEnginePacket decodes one Engine.IO packet as carried by a WebSocket text frame.
// Data aliases frame. Binary packets (base64 "b…" form) are rejected: this server speaks
// text only, and accepting them would mean buffering attachments it has no use for.
func DecodeEnginePacket(frame []byte) (EnginePacket, error) {
	if len(frame) == 0 {
		return EnginePacket{}, errors.New("engine.io packet: empty")
	}
	c := frame[0]
	if c == 'b' {
		return EnginePacket{}, errors.New("engine.io packet: binary packets are not supported")
	}
	if c < '0' || c > '0'+byte(EngineNoop) {
		return EnginePacket{}, fmt.Errorf("engine.io packet: unknown type %q", c)
	}
	return EnginePacket{Type: EngineType(c - '0'), Data: frame[1:]}, nil
}

// DecodeEnginePayload decodes a long-polling request body: packets separated by the
// record separator 0x1e. A payload longer than maxPayload (when positive) is rejected
// before any work, so the result never holds more than maxPayload bytes of input.
// Data fields alias payload.
func DecodeEnginePayload(payload []byte, maxPayload int) ([]EnginePacket, error) {
	if maxPayload > 0 && len(payload) > maxPayload {
		return nil, fmt.Errorf("engine.io payload: %d bytes exceeds the %d byte limit", len(payload), maxPayload)
	}
	if len(payload) == 0 {
		return nil, errors.New("engine.io payload: empty")
	}
	packets := make([]EnginePacket, 0, bytes.Count(payload, []byte{recordSeparator})+1)
	for i := 0; ; i++ {
		frame, rest, more := bytes.Cut(payload, []byte{recordSeparator})
		p, err := DecodeEnginePacket(frame)
		if err != nil {
			return nil, fmt.Errorf("engine.io payload packet %d: %w", i, err)
		}
		packets = append(packets, p)
		if !more {
			return packets, nil
		}
		payload = rest
	}
}

// AppendEnginePacket appends the text encoding of p to dst.
func AppendEnginePacket(dst []byte, p EnginePacket) []byte {
	return append(append(dst, '0'+byte(p.Type)), p.Data...)
}

// AppendEnginePayload appends a long-polling payload of packets to dst.
func AppendEnginePayload(dst []byte, packets ...EnginePacket) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		dst = AppendEnginePacket(dst, p)
	}
	return dst
}
