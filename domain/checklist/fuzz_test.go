package checklist_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/checklist"
)

// fuzzSeeds are the original files, the defaults, the editor customs and a few odd
// shapes, so the fuzzer starts from real checklists.
func fuzzSeeds(f *testing.F) []string {
	seeds := []string{
		`{}`, `null`, `[]`, `{"default":{}}`, `{"default":{"items":"x"}}`,
		`{"house_types":{"a":null,"b":{"items":[{"id":"x","subitems":"s"}]}}}`,
		`{"items":[{"id":"a","subitems":[{"id":"s","subitems":[{"id":"t"}]}]},{"id":1},"x",null]}`,
		editorHouseCustom, editorRoomCustom, editorProductCustom,
		string(original(f, "custom_user_checklist.json")),
	}
	for _, d := range originals(f) {
		seeds = append(seeds, string(d))
	}
	for _, d := range defaults(f) {
		seeds = append(seeds, string(d))
	}
	return seeds
}

func FuzzMerge(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i, s := range seeds {
		f.Add([]byte(s), []byte(seeds[(i+7)%len(seeds)]), []byte(seeds[(i+3)%len(seeds)]))
	}
	f.Fuzz(func(t *testing.T, base, c1, c2 []byte) {
		out, err := checklist.Merge(base, c1, c2)
		allValid := (len(base) == 0 || json.Valid(base)) && (len(c1) == 0 || json.Valid(c1)) && (len(c2) == 0 || json.Valid(c2))
		if err != nil {
			if allValid {
				t.Fatalf("Merge failed on valid JSON: %v", err)
			}
			return
		}
		if !json.Valid(out) || len(out) == 0 || out[0] != '{' {
			t.Fatalf("Merge produced %q, not a JSON object", out)
		}
		// Merging the result again with nothing changes nothing: the output is stable.
		again, err := checklist.Merge(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Merge is not stable on its output: %v\n%s\n%s", err, out, again)
		}
		reduced, err := checklist.Reduce(out)
		if err != nil || !json.Valid(reduced) {
			t.Fatalf("Reduce(%s) = %s, %v", out, reduced, err)
		}
		twice, err := checklist.Reduce(reduced)
		if err != nil || !bytes.Equal(twice, reduced) {
			t.Fatalf("Reduce is not idempotent: %v\n%s\n%s", err, reduced, twice)
		}
	})
}

func FuzzValidate(f *testing.F) {
	scopes := []string{"house", "room", "product", "garden"}
	for i, s := range fuzzSeeds(f) {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, scope uint8, doc []byte) {
		sc := scopes[int(scope)%len(scopes)]
		err := checklist.Validate(sc, doc)
		if err != nil {
			if code := domain.ErrorCode(err); code != domain.EINVALID {
				t.Fatalf("Validate(%s) error code %q: %v", sc, code, err)
			}
			return
		}
		// A checklist Validate accepts merges, and needs no reduction before the agents.
		merged, err := checklist.Merge(doc)
		if err != nil {
			t.Fatalf("Merge of a valid checklist: %v", err)
		}
		reduced, err := checklist.Reduce(merged)
		if err != nil || !bytes.Equal(reduced, merged) {
			t.Fatalf("Reduce changed a valid checklist: %v\n%s\n%s", err, merged, reduced)
		}
		if _, err := checklist.Merge(merged, doc); err != nil {
			t.Fatalf("Merge of a valid checklist into itself: %v", err)
		}
	})
}
