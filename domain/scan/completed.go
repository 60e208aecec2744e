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
	all := s
	for _, d := range derivations {
		if d.leaveOut(&all) {
			all.Derived = append(all.Derived, d.name)
		}
	}
	if back, err := expandCompleted(all); err == nil && sameEncoding(back, full) {
		s = all
	} else {
		for _, d := range derivations {
			kept := s
			if d.leaveOut(&kept) {
				kept.Derived = append(slices.Clone(s.Derived), d.name)
				if back, err := expandCompleted(kept); err == nil && sameEncoding(back, full) {
					s = kept
				}
			}
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeCompleted, err)
	}
	return b, nil
}

func sameEncoding(c Completed, full []byte) bool {
	b, err := json.Marshal(c)
	return err == nil && bytes.Equal(b, full)
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
	for _, name := range slices.Backward(s.Derived) {
		i := slices.IndexFunc(derivations, func(d derivation) bool { return d.name == name })
		if i < 0 {
			return Completed{}, fmt.Errorf("unknown derivation %q", name)
		}
		if err := derivations[i].computeBack(&s); err != nil {
			return Completed{}, fmt.Errorf("derive %s: %w", name, err)
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

// derivation is one copy a stored Completed may leave out.
type derivation struct {
	name string
	// leaveOut removes the copy and reports whether there was one to remove.
	leaveOut func(s *storedCompleted) bool
	// computeBack puts it back from what was kept.
	computeBack func(s *storedCompleted) error
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
		leaveOut: func(s *storedCompleted) bool {
			return edit(&s.Result, "summary", func(sum *json.RawMessage) bool {
				raw, err := member(*sum, key)
				var lines []string
				if err != nil || json.Unmarshal(raw, &lines) != nil {
					return false
				}
				groups, ok := groupLines(scope, lines)
				if !ok || !cut(sum, key) {
					return false
				}
				if s.SummaryLines == nil {
					s.SummaryLines = &summaryLines{}
				} else {
					cp := *s.SummaryLines
					s.SummaryLines = &cp
				}
				*field(s.SummaryLines) = groups
				return true
			})
		},
		computeBack: func(s *storedCompleted) error {
			var groups []roomLines
			if s.SummaryLines != nil {
				groups = *field(s.SummaryLines)
			}
			lines, err := json.Marshal(ungroupLines(scope, groups))
			if err != nil {
				return err
			}
			return editErr(&s.Result, "summary", func(sum *json.RawMessage) error {
				return insertAfter(sum, after, key, lines)
			})
		}}
}

// derivations are tried in this order when encoding, undone in reverse when decoding:
// custom is computed back from the lines after they are back.
var derivations = []derivation{
	{name: derivedHouseTypes,
		leaveOut: func(s *storedCompleted) bool { return drop(&s.HouseTypes) },
		computeBack: func(s *storedCompleted) error {
			var r struct {
				HouseTypes []string `json:"house_types"`
			}
			if err := json.Unmarshal(s.Result, &r); err != nil {
				return err
			}
			if r.HouseTypes == nil {
				r.HouseTypes = []string{}
			}
			return marshalInto(&s.HouseTypes, r.HouseTypes)
		}},
	{name: derivedRooms,
		leaveOut: func(s *storedCompleted) bool { return drop(&s.Rooms) },
		computeBack: func(s *storedCompleted) error {
			var r struct {
				Rooms []struct {
					RoomID    string   `json:"room_id"`
					RoomTypes []string `json:"room_types"`
				} `json:"rooms"`
			}
			if err := json.Unmarshal(s.Result, &r); err != nil {
				return err
			}
			rooms := make([]RoomTypes, 0, len(r.Rooms))
			for _, room := range r.Rooms {
				if room.RoomTypes == nil {
					room.RoomTypes = []string{}
				}
				rooms = append(rooms, RoomTypes{RoomID: room.RoomID, RoomTypes: room.RoomTypes})
			}
			return marshalInto(&s.Rooms, rooms)
		}},
	{name: derivedProsCons,
		leaveOut: func(s *storedCompleted) bool { return drop(&s.ProsCons) },
		computeBack: func(s *storedCompleted) error {
			var r struct {
				ProsCons struct {
					Pros []string `json:"pros"`
					Cons []string `json:"cons"`
				} `json:"pros_cons"`
			}
			if err := json.Unmarshal(s.Result, &r); err != nil {
				return err
			}
			pc := r.ProsCons
			if pc.Pros == nil {
				pc.Pros = []string{}
			}
			if pc.Cons == nil {
				pc.Cons = []string{}
			}
			return marshalInto(&s.ProsCons, pc)
		}},
	{name: derivedSummaryPC,
		leaveOut: func(s *storedCompleted) bool { return cut(&s.ClientSummary, "pros_cons") },
		computeBack: func(s *storedCompleted) error {
			pc, err := member(s.Result, "pros_cons")
			if err != nil {
				return err
			}
			return insertAfter(&s.ClientSummary, "products", "pros_cons", pc)
		}},
	{name: derivedCustom,
		leaveOut: func(s *storedCompleted) bool {
			return edit(&s.Result, "summary", func(sum *json.RawMessage) bool { return cut(sum, "custom") })
		},
		computeBack: func(s *storedCompleted) error {
			var r struct {
				Summary struct {
					House    []string `json:"house"`
					Rooms    []string `json:"rooms"`
					Products []string `json:"products"`
				} `json:"summary"`
			}
			if err := json.Unmarshal(s.Result, &r); err != nil {
				return err
			}
			custom, err := json.Marshal(slices.Concat(r.Summary.House, r.Summary.Rooms, r.Summary.Products))
			if err != nil {
				return err
			}
			return editErr(&s.Result, "summary", func(sum *json.RawMessage) error {
				return insertAfter(sum, "", "custom", custom)
			})
		}},
	{name: derivedCostAgents,
		leaveOut: func(s *storedCompleted) bool { return cut(&s.CostInfo, "agents") },
		computeBack: func(s *storedCompleted) error {
			var ci struct {
				AgentsDetailed map[string]struct {
					TotalTokens int `json:"total_tokens"`
				} `json:"agents_detailed"`
			}
			if err := json.Unmarshal(s.CostInfo, &ci); err != nil {
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
			return insertAfter(&s.CostInfo, "models", "agents", b)
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

// The helpers below edit one member of a JSON object and keep the others, in their
// order, byte for byte: a stored RawMessage must come back exactly as it was written.

type jsonMember struct {
	key   string
	value json.RawMessage
}

func members(obj []byte) ([]jsonMember, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var ms []jsonMember
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

func object(ms []jsonMember) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
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

// member returns the value of key in obj.
func member(obj []byte, key string) (json.RawMessage, error) {
	ms, err := members(obj)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.key == key {
			return m.value, nil
		}
	}
	return nil, fmt.Errorf("no %q", key)
}

// cut removes key from the object in raw and reports whether it was there.
func cut(raw *json.RawMessage, key string) bool {
	ms, err := members(*raw)
	if err != nil {
		return false
	}
	i := slices.IndexFunc(ms, func(m jsonMember) bool { return m.key == key })
	if i < 0 {
		return false
	}
	b, err := object(slices.Delete(ms, i, i+1))
	if err != nil {
		return false
	}
	*raw = b
	return true
}

// insertAfter puts key right after the member named after, or last when after is "".
func insertAfter(raw *json.RawMessage, after, key string, value json.RawMessage) error {
	ms, err := members(*raw)
	if err != nil {
		return err
	}
	at := len(ms)
	if after != "" {
		i := slices.IndexFunc(ms, func(m jsonMember) bool { return m.key == after })
		if i < 0 {
			return fmt.Errorf("no %q to put %q after", after, key)
		}
		at = i + 1
	}
	b, err := object(slices.Insert(ms, at, jsonMember{key: key, value: value}))
	if err != nil {
		return err
	}
	*raw = b
	return nil
}

// edit applies f to the value of key in the object in raw.
func edit(raw *json.RawMessage, key string, f func(*json.RawMessage) bool) bool {
	changed := false
	err := editErr(raw, key, func(v *json.RawMessage) error {
		if changed = f(v); !changed {
			return errors.New("unchanged")
		}
		return nil
	})
	return err == nil && changed
}

func editErr(raw *json.RawMessage, key string, f func(*json.RawMessage) error) error {
	ms, err := members(*raw)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ms, func(m jsonMember) bool { return m.key == key })
	if i < 0 {
		return fmt.Errorf("no %q", key)
	}
	if err := f(&ms[i].value); err != nil {
		return err
	}
	b, err := object(ms)
	if err != nil {
		return err
	}
	*raw = b
	return nil
}
