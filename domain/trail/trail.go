// Package trail holds the words of the access trail: an append-only record of who read
// or changed what, for auditors. Reads of another user's data by an auditor or admin,
// role grants, base-checklist and profile changes and model price changes each become
// one Entry. Where entries are kept (events in the event store, chained and sealed like
// every other stream) is the business of the Recorder's implementation.
package trail

import "context"

// Actions recorded in the trail.
const (
	ReadScan       = "scan.read"             // an auditor or admin read another user's scan
	ReadUser       = "user.read"             // an auditor or admin read another user's data
	GrantRole      = "role.grant"            // a user's role was changed
	ChangeProfile  = "profile.change"        // a user's profile was changed
	ChangeBaseList = "checklist.base.change" // a base checklist was created, edited or toggled
	SetModelPrice  = "model.price.set"       // a model's price from a date was set
	EraseUser      = "user.erase"            // a user was forgotten (their personal key destroyed)
)

// Entry is one line of the trail.
type Entry struct {
	ActorID   string // who acted (a user id); "" for the operator's command line
	ActorRole string // the role they acted in: user, admin, auditor, analyst, operator
	Action    string // one of the actions above
	Subject   string // what was touched, as kind:id (scan:<id>, user:<id>, checklist:<id>, model:<name>); never personal data, which
	// entries keep forever
	OwnerID   string // whose data it is, when it is a user's ("" otherwise)
	RequestID string // the request it happened in, for joining with access logs
	Detail    string // a short human-readable line (never a secret, token or password)
}

// Recorder appends entries to the trail. An error means the entry was not recorded; a
// caller that must not act unrecorded fails the request.
type Recorder interface {
	Record(ctx context.Context, e Entry) error
}
