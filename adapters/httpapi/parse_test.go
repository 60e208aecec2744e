package httpapi_test

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/adapters/relay"
)

func TestParseRoomsReadsTheClientsShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		json  string
		set   bool
		n     int
		rooms [][]int
	}{
		{"no field: one room with every image", "", false, 3, [][]int{{0, 1, 2}}},
		{"string indices as the PWA sends them", `[{"imageIndices":["0","1"]},{"imageIndices":["2"]}]`, true, 3, [][]int{{0, 1}, {2}}},
		{"numbers are coerced", `[{"imageIndices":[1,0]}]`, true, 2, [][]int{{1, 0}}},
		{"unparseable JSON is treated as absent", `[{"imageIndices":`, true, 2, [][]int{{0, 1}}},
		{"a non-array is treated as absent", `{"imageIndices":["0"]}`, true, 2, [][]int{{0, 1}}},
		{"a malformed entry is an empty room", `[{"imageIndices":"0"},{"imageIndices":["1"]}]`, true, 2, [][]int{nil, {1}}},
		{"unknown indices are dropped", `[{"imageIndices":["0","7","-1","x","1.5"]}]`, true, 2, [][]int{{0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpapi.ParseRooms(tc.json, tc.set, tc.n); !reflect.DeepEqual(got, tc.rooms) {
				t.Fatalf("got %v, want %v", got, tc.rooms)
			}
		})
	}
}

func FuzzParseRooms(f *testing.F) {
	f.Add(`[{"imageIndices":["0","1"]},{"imageIndices":[2]}]`, 3)
	f.Add(`[]`, 0)
	f.Add(`null`, 5)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1000 {
			return
		}
		for _, room := range httpapi.ParseRooms(s, true, n) {
			for _, i := range room {
				if i < 0 || i >= n {
					t.Fatalf("index %d out of range %d", i, n)
				}
			}
		}
	})
}

func FuzzParseLastEventID(f *testing.F) {
	f.Add("42")
	f.Add("-1")
	f.Add("99999999999999999999")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/api/v1/events", nil)
		r.Header.Set("Last-Event-ID", v)
		res, err := relay.ParseLastEventID(r)
		if err == nil && v != "" && (!res.Set || res.After < 0) {
			t.Fatalf("accepted %q as %+v", v, res)
		}
	})
}
