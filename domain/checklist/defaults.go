package checklist

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
)

// defaultsFS holds the base checklists a fresh install starts with, so a new user's
// first scan has something to check (the original shipped none). They were written for
// scanledger: the questions are ones photos of a home can answer, and booleans are
// phrased as problems, so true always means "needs attention".
//
//go:embed defaults/house.json defaults/room.json defaults/product.json
var defaultsFS embed.FS

// Defaults returns the default base checklist of every scope, as compact JSON in the
// structures of contracts/housescanner.md section 6.1. They pass Validate.
func Defaults() (map[Scope]json.RawMessage, error) {
	out := make(map[Scope]json.RawMessage, 3)
	for _, sc := range Scopes() {
		raw, err := defaultsFS.ReadFile("defaults/" + string(sc) + ".json")
		if err != nil {
			return nil, fmt.Errorf("default %s checklist: %w", sc, err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("default %s checklist: %w", sc, err)
		}
		out[sc] = buf.Bytes()
	}
	return out, nil
}
