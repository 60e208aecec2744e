package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A Completed carries the analyzer's result and the summaries the read side serves,
// and those repeat each other: result.summary.custom is the house, rooms and products
// lines again, pros/cons appear three times, cost_info.agents is agents_detailed's
// totals. The largest scan's Completed was over 1 MiB, the append limit of KurrentDB
// 24.10 and 25.0. From schema version 2 a Completed is stored without the copies: each
// left out is named in "derived", and Decode computes it back from the part that is
// kept. Encode leaves a copy out only when computing it back gives the very bytes the
// full event would have held, so what is read is always what was decided; a copy that
// does not match (another analyzer, a hand-made event) is stored as it is.

// Derivations a stored Completed may name in "derived". Never rename or reuse one.
const (
	derivedHouseTypes = "houseTypes"              // result.house_types ([] for none)
	derivedRooms      = "rooms"                   // result.rooms' room_id and room_types
	derivedProsCons   = "prosCons"                // result.pros_cons ([] for none)
	derivedSummaryPC  = "clientSummary.pros_cons" // result.pros_cons, after clientSummary.products
	derivedCustom     = "result.summary.custom"   // house + rooms + products lines, last in summary
	derivedCostAgents = "costInfo.agents"         // agents_detailed[*].total_tokens, after costInfo.models
	// result.summary's lines from summaryLines, rooms after summary.house, products
	// after summary.rooms.
	derivedRoomLines    = "result.summary.rooms"
	derivedProductLines = "result.summary.products"
)

// storedCompleted is a Completed's stored shape from schema version 2: version 1's
// fields, each left out when it is named in Derived, and SummaryLines.
type storedCompleted struct {
	Attempt int      `json:"attempt"`
	Derived []string `json:"derived,omitempty"`
	// SummaryLines holds result.summary's rooms and products lines grouped by room:
	// "room:<roomId>:<rest>" is stored as <rest> under <roomId>, once per run of lines
	// of the same room (the room id is a third of a line).
	SummaryLines    *summaryLines   `json:"summaryLines,omitempty"`
	HouseTypes      json.RawMessage `json:"houseTypes,omitempty"`
	Rooms           json.RawMessage `json:"rooms,omitempty"`
	ClientSummary   json.RawMessage `json:"clientSummary,omitempty"`
	ProsCons        json.RawMessage `json:"prosCons,omitempty"`
	CostInfo        json.RawMessage `json:"costInfo,omitempty"`
	AgentRuns       []AgentRun      `json:"agentRuns"`
	PipelineVersion string          `json:"pipelineVersion"`
	Result          json.RawMessage `json:"result"`
}

// upcastCompletedV1: a version 1 Completed is a version 2 one with nothing derived.
func upcastCompletedV1(data []byte) ([]byte, error) { return data, nil }

// encodeCompleted returns c's stored data with every copy that computes back exactly
// left out.
func encodeCompleted(c Completed) ([]byte, error) {
	full, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeCompleted, err)
	}
	var s storedCompleted
	if err := json.Unmarshal(full, &s); err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeCompleted, err)
	}
	// The worker's events leave every copy out; try that first, then one by one.
	if all, ok := leaveOut(s, derivations, full); ok {
		s = all
	} else {
		for _, d := range derivations {
			if kept, ok := leaveOut(s, []derivation{d}, full); ok {
				s = kept
			}
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeCompleted, err)
	}
	return b, nil
}

// leaveOut leaves ds' copies out of s, and reports whether reading the result back
// gives exactly full, the version 1 encoding.
func leaveOut(s storedCompleted, ds []derivation, full []byte) (storedCompleted, bool) {
	p := split(s)
	p.Derived = slices.Clone(s.Derived)
	for _, d := range ds {
		if d.leaveOut(p) {
			p.Derived = append(p.Derived, d.name)
		}
	}
	if len(p.Derived) == len(s.Derived) {
		return s, false
	}
	kept, err := p.join()
	if err != nil {
		return s, false
	}
	back, err := expandCompleted(kept)
	if err != nil {
		return s, false
	}
	b, err := json.Marshal(back)
	return kept, err == nil && bytes.Equal(b, full)
}

// decodeCompleted reads a stored Completed of the current version.
func decodeCompleted(data []byte) (Event, error) {
	var s storedCompleted
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	return expandCompleted(s)
}

// expandCompleted computes the derived copies back, in the order they were left out.
func expandCompleted(s storedCompleted) (Completed, error) {
	if len(s.Derived) > 0 {
		p := split(s)
		for _, name := range slices.Backward(s.Derived) {
			i := slices.IndexFunc(derivations, func(d derivation) bool { return d.name == name })
			if i < 0 {
				return Completed{}, fmt.Errorf("unknown derivation %q", name)
			}
			if err := derivations[i].computeBack(p); err != nil {
				return Completed{}, fmt.Errorf("derive %s: %w", name, err)
			}
		}
		var err error
		if s, err = p.join(); err != nil {
			return Completed{}, err
		}
	}
	c := Completed{Attempt: s.Attempt, AgentRuns: s.AgentRuns, PipelineVersion: s.PipelineVersion,
		ClientSummary: s.ClientSummary, ProsCons: s.ProsCons, CostInfo: s.CostInfo, Result: s.Result}
	if err := unmarshalIfSet(s.HouseTypes, &c.HouseTypes); err != nil {
		return Completed{}, fmt.Errorf("houseTypes: %w", err)
	}
	if err := unmarshalIfSet(s.Rooms, &c.Rooms); err != nil {
		return Completed{}, fmt.Errorf("rooms: %w", err)
	}
	return c, nil
}

func unmarshalIfSet(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// parts is a stored Completed with its result and result.summary split into members
// once, so that the derivations do not each parse half a megabyte again.
type parts struct {
	storedCompleted
	result, summary           jsonObject // nil when not a JSON object
	resultDirty, summaryDirty bool
}

func split(s storedCompleted) *parts {
	p := &parts{storedCompleted: s}
	if ms, err := members(s.Result); err == nil {
		p.result = ms
		if sum, ok := ms.get("summary"); ok {
			if sms, err := members(sum); err == nil {
				p.summary = sms
			}
		}
	}
	return p
}

// join puts edited members back together; untouched ones keep their bytes.
func (p *parts) join() (storedCompleted, error) {
	s := p.storedCompleted
	if p.summaryDirty {
		b, err := p.summary.encode()
		if err != nil {
			return s, err
		}
		p.result.set("summary", b)
		p.resultDirty = true
	}
	if p.resultDirty {
		b, err := p.result.encode()
		if err != nil {
			return s, err
		}
		s.Result = b
	}
	return s, nil
}

// resultMember is a member of result; a missing one reads as null.
func (p *parts) resultMember(key string) (json.RawMessage, error) {
	if p.result == nil {
		return nil, errors.New("result is not an object")
	}
	if v, ok := p.result.get(key); ok {
		return v, nil
	}
	return json.RawMessage("null"), nil
}

// resultAs decodes the member key of result as a T.
func resultAs[T any](p *parts, key string) (T, error) {
	var v T
	raw, err := p.resultMember(key)
	if err != nil {
		return v, err
	}
	err = json.Unmarshal(raw, &v)
	return v, err
}

// summaryLines decodes result.summary.<key>.
func (p *parts) summaryLines(key string) ([]string, error) {
	if p.summary == nil {
		return nil, errors.New("result.summary is not an object")
	}
	var lines []string
	if v, ok := p.summary.get(key); ok {
		if err := json.Unmarshal(v, &lines); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

// derivation is one copy a stored Completed may leave out.
type derivation struct {
	name string
	// leaveOut removes the copy and reports whether there was one to remove.
	leaveOut func(p *parts) bool
	// computeBack puts it back from what was kept.
	computeBack func(p *parts) error
}

// summaryLines are result.summary lines grouped by room.
type summaryLines struct {
	Rooms    []roomLines `json:"rooms,omitempty"`
	Products []roomLines `json:"products,omitempty"`
}

// roomLines is a run of lines of one room: [roomId, [rest, ...]].
type roomLines struct {
	RoomID string
	Rest   []string
}

func (r roomLines) MarshalJSON() ([]byte, error) { return json.Marshal([]any{r.RoomID, r.Rest}) }

func (r *roomLines) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return errors.New("room lines: want [roomId, [lines]]")
	}
	if err := json.Unmarshal(pair[0], &r.RoomID); err != nil {
		return err
	}
	return json.Unmarshal(pair[1], &r.Rest)
}

// groupLines groups "<scope>:<roomId>:<rest>" lines by runs of the same room; it
// reports false when a line does not have that form.
func groupLines(scope string, lines []string) ([]roomLines, bool) {
	groups := []roomLines{}
	for _, l := range lines {
		room, rest, ok := strings.Cut(strings.TrimPrefix(l, scope+":"), ":")
		if !ok || !strings.HasPrefix(l, scope+":") {
			return nil, false
		}
		if n := len(groups); n > 0 && groups[n-1].RoomID == room {
			groups[n-1].Rest = append(groups[n-1].Rest, rest)
			continue
		}
		groups = append(groups, roomLines{RoomID: room, Rest: []string{rest}})
	}
	return groups, true
}

func ungroupLines(scope string, groups []roomLines) []string {
	lines := []string{}
	for _, g := range groups {
		for _, rest := range g.Rest {
			lines = append(lines, scope+":"+g.RoomID+":"+rest)
		}
	}
	return lines
}

// summaryLinesDerivation stores result.summary.<key> (lines of scope) grouped by room,
// and puts it back after the summary member named after.
func summaryLinesDerivation(name, key, scope, after string, field func(*summaryLines) *[]roomLines) derivation {
	return derivation{name: name,
		leaveOut: func(p *parts) bool {
			if _, ok := p.summary.get(key); !ok {
				return false
			}
			lines, err := p.summaryLines(key)
			if err != nil || lines == nil {
				return false
			}
			groups, ok := groupLines(scope, lines)
			if !ok {
				return false
			}
			p.summary = p.summary.without(key)
			p.summaryDirty = true
			sl := summaryLines{}
			if p.SummaryLines != nil {
				sl = *p.SummaryLines
			}
			*field(&sl) = groups
			p.SummaryLines = &sl
			return true
		},
		computeBack: func(p *parts) error {
			if p.summary == nil {
				return errors.New("result.summary is not an object")
			}
			var groups []roomLines
			if p.SummaryLines != nil {
				groups = *field(p.SummaryLines)
			}
			lines, err := json.Marshal(ungroupLines(scope, groups))
			if err != nil {
				return err
			}
			if p.summary, err = p.summary.insertAfter(after, key, lines); err != nil {
				return err
			}
			p.summaryDirty = true
			return nil
		}}
}

// derivations are tried in this order when encoding, undone in reverse when decoding:
// custom is computed back from the lines after they are back.
var derivations = []derivation{
	{name: derivedHouseTypes,
		leaveOut: func(p *parts) bool { return drop(&p.HouseTypes) },
		computeBack: func(p *parts) error {
			types, err := resultAs[[]string](p, "house_types")
			if err != nil {
				return err
			}
			if types == nil {
				types = []string{}
			}
			return marshalInto(&p.HouseTypes, types)
		}},
	{name: derivedRooms,
		leaveOut: func(p *parts) bool { return drop(&p.Rooms) },
		computeBack: func(p *parts) error {
			rr, err := resultAs[[]struct {
				RoomID    string   `json:"room_id"`
				RoomTypes []string `json:"room_types"`
			}](p, "rooms")
			if err != nil {
				return err
			}
			rooms := make([]RoomTypes, 0, len(rr))
			for _, room := range rr {
				if room.RoomTypes == nil {
					room.RoomTypes = []string{}
				}
				rooms = append(rooms, RoomTypes{RoomID: room.RoomID, RoomTypes: room.RoomTypes})
			}
			return marshalInto(&p.Rooms, rooms)
		}},
	{name: derivedProsCons,
		leaveOut: func(p *parts) bool { return drop(&p.ProsCons) },
		computeBack: func(p *parts) error {
			pc, err := resultAs[struct {
				Pros []string `json:"pros"`
				Cons []string `json:"cons"`
			}](p, "pros_cons")
			if err != nil {
				return err
			}
			if pc.Pros == nil {
				pc.Pros = []string{}
			}
			if pc.Cons == nil {
				pc.Cons = []string{}
			}
			return marshalInto(&p.ProsCons, pc)
		}},
	{name: derivedSummaryPC,
		leaveOut: func(p *parts) bool { return cut(&p.ClientSummary, "pros_cons") },
		computeBack: func(p *parts) error {
			pc, err := p.resultMember("pros_cons")
			if err != nil {
				return err
			}
			return insertAfter(&p.ClientSummary, "products", "pros_cons", pc)
		}},
	{name: derivedCustom,
		leaveOut: func(p *parts) bool {
			if _, ok := p.summary.get("custom"); !ok {
				return false
			}
			p.summary, p.summaryDirty = p.summary.without("custom"), true
			return true
		},
		computeBack: func(p *parts) error {
			var all []string
			for _, key := range []string{"house", "rooms", "products"} {
				lines, err := p.summaryLines(key)
				if err != nil {
					return err
				}
				all = append(all, lines...)
			}
			custom, err := json.Marshal(all)
			if err != nil {
				return err
			}
			if p.summary, err = p.summary.insertAfter("", "custom", custom); err != nil {
				return err
			}
			p.summaryDirty = true
			return nil
		}},
	{name: derivedCostAgents,
		leaveOut: func(p *parts) bool { return cut(&p.CostInfo, "agents") },
		computeBack: func(p *parts) error {
			var ci struct {
				AgentsDetailed map[string]struct {
					TotalTokens int `json:"total_tokens"`
				} `json:"agents_detailed"`
			}
			if err := json.Unmarshal(p.CostInfo, &ci); err != nil {
				return err
			}
			agents := make(map[string]int, len(ci.AgentsDetailed))
			for name, a := range ci.AgentsDetailed {
				agents[name] = a.TotalTokens
			}
			b, err := json.Marshal(agents)
			if err != nil {
				return err
			}
			return insertAfter(&p.CostInfo, "models", "agents", b)
		}},
	summaryLinesDerivation(derivedProductLines, "products", "product", "rooms",
		func(l *summaryLines) *[]roomLines { return &l.Products }),
	summaryLinesDerivation(derivedRoomLines, "rooms", "room", "house",
		func(l *summaryLines) *[]roomLines { return &l.Rooms }),
}

func drop(raw *json.RawMessage) bool {
	had := len(*raw) > 0
	*raw = nil
	return had
}

func marshalInto(raw *json.RawMessage, v any) error {
	b, err := json.Marshal(v)
	*raw = b
	return err
}

// The helpers below edit members of a JSON object and keep the others, in their order,
// byte for byte: a stored RawMessage must come back exactly as it was written.

type jsonMember struct {
	key   string
	value json.RawMessage
}

type jsonObject []jsonMember

func members(obj []byte) (jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	ms := jsonObject{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		m := jsonMember{key: t.(string)}
		if err := dec.Decode(&m.value); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func (o jsonObject) encode() (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o jsonObject) index(key string) int {
	return slices.IndexFunc(o, func(m jsonMember) bool { return m.key == key })
}

func (o jsonObject) get(key string) (json.RawMessage, bool) {
	if i := o.index(key); i >= 0 {
		return o[i].value, true
	}
	return nil, false
}

func (o jsonObject) set(key string, v json.RawMessage) {
	if i := o.index(key); i >= 0 {
		o[i].value = v
	}
}

func (o jsonObject) without(key string) jsonObject {
	return slices.DeleteFunc(slices.Clone(o), func(m jsonMember) bool { return m.key == key })
}

// insertAfter puts key right after the member named after, or last when after is "".
func (o jsonObject) insertAfter(after, key string, v json.RawMessage) (jsonObject, error) {
	at := len(o)
	if after != "" {
		if at = o.index(after) + 1; at == 0 {
			return nil, fmt.Errorf("no %q to put %q after", after, key)
		}
	}
	return slices.Insert(slices.Clone(o), at, jsonMember{key: key, value: v}), nil
}

// cut removes key from the object in raw and reports whether it was there.
func cut(raw *json.RawMessage, key string) bool {
	o, err := members(*raw)
	if err != nil || o.index(key) < 0 {
		return false
	}
	b, err := o.without(key).encode()
	if err != nil {
		return false
	}
	*raw = b
	return true
}

// insertAfter puts key into the object in raw right after the member named after.
func insertAfter(raw *json.RawMessage, after, key string, v json.RawMessage) error {
	o, err := members(*raw)
	if err != nil {
		return err
	}
	if o, err = o.insertAfter(after, key, v); err != nil {
		return err
	}
	b, err := o.encode()
	if err != nil {
		return err
	}
	*raw = b
	return nil
}
