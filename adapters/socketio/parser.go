package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is the type of a Socket.IO v5 packet, the first digit of an Engine.IO
// message's data.
type PacketType byte

// The Socket.IO v5 packet types.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// Packet is one Socket.IO packet in its text form:
// <type>[<namespace>,][<ack id>][<JSON data>].
type Packet struct {
	Type PacketType
	// Namespace is "/" when the packet names none.
	Namespace string
	// HasID reports whether the packet carries an acknowledgement id; ids start at 0,
	// so ID alone cannot say.
	HasID bool
	ID    uint64
	// Data is the packet's JSON payload, nil when it has none.
	Data json.RawMessage
}

// DecodePacket decodes a Socket.IO packet with the validation rules of socket.io-parser
// 4.2.4: a CONNECT payload must be an object, DISCONNECT has none, CONNECT_ERROR is a
// string or an object, EVENT is an array led by a non-reserved name or a number, ACK is
// an array. Binary packets are rejected: their attachments follow as separate binary
// frames, which this text-only server does not accept. Data aliases b.
func DecodePacket(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, errors.New("socket.io packet: empty")
	}
	if b[0] < '0' || b[0] > '0'+byte(PacketBinaryAck) {
		return Packet{}, fmt.Errorf("socket.io packet: unknown type %q", b[0])
	}
	p := Packet{Type: PacketType(b[0] - '0'), Namespace: "/"}
	rest := b[1:]
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		n, _, ok := bytes.Cut(rest, []byte{'-'})
		if !ok || len(n) == 0 || digits(n) != len(n) {
			return Packet{}, errors.New("socket.io packet: illegal attachments")
		}
		return Packet{}, errors.New("socket.io packet: binary packets are not supported")
	}
	if len(rest) > 0 && rest[0] == '/' {
		nsp, after, _ := bytes.Cut(rest, []byte{','})
		p.Namespace, rest = string(nsp), after
	}
	if n := digits(rest); n > 0 {
		id, err := strconv.ParseUint(string(rest[:n]), 10, 64)
		if err != nil {
			return Packet{}, fmt.Errorf("socket.io packet: ack id: %w", err)
		}
		p.HasID, p.ID, rest = true, id, rest[n:]
	}
	if len(rest) > 0 {
		if !json.Valid(rest) {
			return Packet{}, errors.New("socket.io packet: payload is not JSON")
		}
		p.Data = rest
	}
	if err := validatePayload(p.Type, p.Data); err != nil {
		return Packet{}, fmt.Errorf("socket.io packet: %w", err)
	}
	return p, nil
}

// AppendPacket appends the text encoding of p to dst. Binary types are written with an
// attachment count of zero, the only count a packet without attachments can have.
func AppendPacket(dst []byte, p Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		dst = append(dst, '0', '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(append(dst, p.Namespace...), ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

func digits(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}

// validatePayload applies socket.io-parser's isPayloadValid. Like the reference parser it
// only judges a payload that is present.
func validatePayload(t PacketType, data []byte) error {
	if data == nil {
		return nil
	}
	first := bytes.TrimLeft(data, " \t\r\n")[0]
	switch t {
	case PacketConnect:
		if first != '{' {
			return errors.New("CONNECT payload must be an object")
		}
	case PacketDisconnect:
		return errors.New("DISCONNECT takes no payload")
	case PacketConnectError:
		if first != '{' && first != '"' {
			return errors.New("CONNECT_ERROR payload must be a string or an object")
		}
	case PacketAck:
		if first != '[' {
			return errors.New("ACK payload must be an array")
		}
	case PacketEvent:
		return validateEventArgs(data)
	}
	return nil
}

func validateEventArgs(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return errors.New("EVENT payload must be an array")
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("EVENT name: %w", err)
	}
	switch name := tok.(type) {
	case float64:
		return nil
	case string:
		if reservedEvent(name) {
			return fmt.Errorf("EVENT name %q is reserved", name)
		}
		return nil
	}
	return errors.New("EVENT must start with a name or a number")
}

// reservedEvent reports the names socket.io-client keeps for its own lifecycle events; an
// EVENT packet with one of them makes the client's parser fail and drop the connection.
func reservedEvent(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// appendEventFrame appends the Engine.IO message that carries m as a Socket.IO EVENT of
// namespace nsp: ["event",data,"id"]. The id goes last because that is where
// socket.io-client looks for the connection-state-recovery offset.
func appendEventFrame(dst []byte, nsp string, m Message) ([]byte, error) {
	if m.Event == "" || reservedEvent(m.Event) {
		return dst, fmt.Errorf("event name %q cannot be emitted", m.Event)
	}
	data := []byte(m.Data)
	if len(data) == 0 {
		data = []byte("null")
	} else if !json.Valid(data) {
		return dst, fmt.Errorf("event %q: data is not JSON", m.Event)
	}
	name, err := json.Marshal(m.Event)
	if err != nil {
		return dst, fmt.Errorf("event name: %w", err)
	}
	args := make([]byte, 0, len(name)+len(data)+len(m.ID)+8)
	args = append(append(append(append(args, '['), name...), ','), data...)
	if m.ID != "" {
		id, err := json.Marshal(m.ID)
		if err != nil {
			return dst, fmt.Errorf("event id: %w", err)
		}
		args = append(append(args, ','), id...)
	}
	args = append(args, ']')
	dst = append(dst, '0'+byte(EngineMessage))
	return AppendPacket(dst, Packet{Type: PacketEvent, Namespace: nsp, Data: args}), nil
}

// appendControlFrame appends the Engine.IO message carrying a Socket.IO packet whose
// payload is v marshalled.
func appendControlFrame(dst []byte, t PacketType, nsp string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		// The callers pass structs of strings, which always marshal.
		panic(fmt.Sprintf("socketio: marshal %T: %v", v, err))
	}
	dst = append(dst, '0'+byte(EngineMessage))
	return AppendPacket(dst, Packet{Type: t, Namespace: nsp, Data: data})
}
