// Package checklist holds the rules for inspection checklists: the merge of a base
// checklist with a user's custom ones (contracts/housescanner.md section 6.4), the
// reduction of every item to the keys the agents-service accepts (section 5.3), the
// validation of what users store, and the default base checklists of a fresh install.
//
// Checklists stay JSON (json.RawMessage) at this package's boundary because they are
// stored, recorded in events and sent to the agents as free-form documents; inside,
// they are decoded into a tree that keeps object key order.
package checklist

import (
	"github.com/scanledger/scanledger/domain"
)

// Scope says which checklist a row holds. The values are the stored and URL spellings
// (PUT /checklists/base/:scope).
type Scope string

// The three scopes.
const (
	ScopeHouse   Scope = "house"   // {default, house_types}: house-level items by house type
	ScopeRoom    Scope = "room"    // {default, room_types}: room-level items by room type
	ScopeProduct Scope = "product" // {items} (or {default}): furniture and appliances
)

// Scopes returns every scope in the order the agents request lists the checklists.
func Scopes() []Scope { return []Scope{ScopeHouse, ScopeRoom, ScopeProduct} }

// ParseScope returns the Scope spelled s, or an EINVALID error: an unknown scope is the
// caller's mistake, never a missing row.
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(s); sc {
	case ScopeHouse, ScopeRoom, ScopeProduct:
		return sc, nil
	}
	return "", domain.Errorf(domain.EINVALID, "unknown checklist scope %q: use house, room or product", s)
}
