package scan_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

func decodeAt(t *testing.T, version int, data []byte) scan.Completed {
	t.Helper()
	e, err := scan.Decode(event.Recorded{ID: "x", Type: scan.TypeCompleted, SchemaVersion: version, Data: data})
	if err != nil {
		t.Fatalf("decode v%d: %v", version, err)
	}
	return e.(scan.Completed)
}

// Completed events are never rewritten: one stored at version 1 (every copy of the
// summaries written out) reads exactly as version 1's plain decoding read it.
func TestCompletedStoredAtVersion1ReadsAsBefore(t *testing.T) {
	old, err := os.ReadFile(goldenPath(scan.TypeCompleted, 1))
	if err != nil {
		t.Fatal(err)
	}
	var want scan.Completed
	if err := json.Unmarshal(old, &want); err != nil {
		t.Fatal(err)
	}
	if got := decodeAt(t, 1, old); !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 golden decodes as\n%#v\nwant\n%#v", got, want)
	}

	// The worker's event as version 1 wrote it and as version 2 writes it read the same.
	c := completedExample()
	v1, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := scan.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := decodeAt(t, 1, v1), decodeAt(t, 2, v2); !reflect.DeepEqual(a, b) || !reflect.DeepEqual(b, c) {
		t.Fatalf("v1 reads\n%#v\nv2 reads\n%#v\nwant\n%#v", a, b, c)
	}
	if len(v2) >= len(v1) {
		t.Fatalf("v2 stores %d bytes, v1 stored %d: the copies were not left out", len(v2), len(v1))
	}
}

// A copy is left out only when it computes back exactly: one that does not repeat the
// result (another analyzer, a filtered room list, hand-written JSON) is stored as
// written and read back as written.
func TestCompletedCopiesThatDifferAreStoredAsWritten(t *testing.T) {
	mutations := map[string]func(*scan.Completed){
		"house types differ": func(c *scan.Completed) { c.HouseTypes = []string{"villa"} },
		"no house types":     func(c *scan.Completed) { c.HouseTypes = nil },
		"rooms filtered":     func(c *scan.Completed) { c.Rooms = []scan.RoomTypes{} },
		"pros/cons differ":   func(c *scan.Completed) { c.ProsCons = json.RawMessage(`{"pros":[],"cons":["dark"]}`) },
		"client summary pros/cons differ": func(c *scan.Completed) {
			c.ClientSummary = json.RawMessage(strings.Replace(string(c.ClientSummary), `"pros":["bright"]`, `"pros":["sunny"]`, 1))
		},
		"custom lines differ": func(c *scan.Completed) {
			c.Result = json.RawMessage(strings.Replace(string(c.Result), `"custom":["house:water_damage:true",`, `"custom":[`, 1))
		},
		"a line without a room": func(c *scan.Completed) {
			c.Result = json.RawMessage(strings.Replace(string(c.Result), `"rooms":["room:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:floor_condition:Good"]`, `"rooms":["room"]`, 1))
		},
		"lines of rooms interleaved": func(c *scan.Completed) {
			c.Result = json.RawMessage(strings.Replace(string(c.Result), `"products":["product:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:fridge:exists",`,
				`"products":["product:c5a4e3d2-1b0a-4f9e-8d7c-6b5a4f3e2d1c:fridge:exists","product:other:oven:exists",`, 1))
		},
		"no summary lines": func(c *scan.Completed) {
			c.Result = json.RawMessage(strings.Replace(string(c.Result), `"summary":{`, `"summary":{"rooms":null,"x":{},`, 1))
		},
		"agents differ": func(c *scan.Completed) {
			c.CostInfo = json.RawMessage(strings.Replace(string(c.CostInfo), `"agents":{"house type":10}`, `"agents":{"house type":11}`, 1))
		},
		"result indented": func(c *scan.Completed) {
			c.Result = json.RawMessage(strings.ReplaceAll(string(c.Result), `,"`, ", \n\""))
		},
		"result not an object":   func(c *scan.Completed) { c.Result = json.RawMessage(`[1,2]`) },
		"no result or summaries": func(c *scan.Completed) { c.Result, c.ClientSummary, c.CostInfo, c.ProsCons = nil, nil, nil, nil },
		"loadgen's result":       func(c *scan.Completed) { c.Result = json.RawMessage(`{"ok":true}`) },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			c := completedExample()
			mutate(&c)
			b, err := scan.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(c)
			got, _ := json.Marshal(decodeAt(t, scan.SchemaVersion(scan.TypeCompleted), b))
			if string(got) != string(want) {
				t.Fatalf("stored as %s\nreads back as\n%s\nwant\n%s", b, got, want)
			}
		})
	}
}

func TestCompletedNamingAnUnknownDerivationDoesNotDecode(t *testing.T) {
	_, err := scan.Decode(event.Recorded{Type: scan.TypeCompleted, SchemaVersion: 2,
		Data: []byte(`{"attempt":1,"derived":["result.everything"],"agentRuns":[],"pipelineVersion":"","result":{}}`)})
	if err == nil {
		t.Fatal("a Completed naming an unknown derivation decoded")
	}
}

func FuzzCompletedRoundTrip(f *testing.F) {
	c := completedExample()
	f.Add([]byte(c.Result), []byte(c.ClientSummary), []byte(c.CostInfo), []byte(c.ProsCons))
	f.Fuzz(func(t *testing.T, result, summary, cost, prosCons []byte) {
		c := completedExample()
		for _, f := range []struct {
			in  []byte
			out *json.RawMessage
		}{{result, &c.Result}, {summary, &c.ClientSummary}, {cost, &c.CostInfo}, {prosCons, &c.ProsCons}} {
			if !json.Valid(f.in) {
				return
			}
			*f.out = f.in
		}
		want, err := json.Marshal(c)
		if err != nil {
			return // json.Marshal compacts RawMessage; some valid input still fails there
		}
		b, err := scan.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(decodeAt(t, scan.SchemaVersion(scan.TypeCompleted), b))
		if string(got) != string(want) {
			t.Fatalf("stored as %s\nreads back as\n%s\nwant\n%s", b, got, want)
		}
	})
}
