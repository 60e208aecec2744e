package event

import "github.com/scanledger/scanledger/domain"

// CheckAppend enforces what every store requires of an append, before it touches
// anything: a stream name, a valid expected version, at least one event, and events
// with an id, a type and a schema version from 1, no id twice. A violation is a
// domain.EINVALID error and nothing may be written. Adapters add only what their engine
// needs beyond this (ids as UUIDs, text a column can hold).
func CheckAppend(stream string, expected int64, events []Data) error {
	if stream == "" {
		return domain.Errorf(domain.EINVALID, "empty stream name")
	}
	if expected < Any {
		return domain.Errorf(domain.EINVALID, "invalid expected version %d", expected)
	}
	if len(events) == 0 {
		return domain.Errorf(domain.EINVALID, "no events to append")
	}
	seen := make(map[string]struct{}, len(events))
	for i, e := range events {
		switch {
		case e.ID == "":
			return domain.Errorf(domain.EINVALID, "event %d has no id", i)
		case e.Type == "":
			return domain.Errorf(domain.EINVALID, "event %s has no type", e.ID)
		case e.SchemaVersion < 1:
			return domain.Errorf(domain.EINVALID, "event %s has schema version %d, want >= 1", e.ID, e.SchemaVersion)
		}
		if _, dup := seen[e.ID]; dup {
			return domain.Errorf(domain.EINVALID, "event id %s appears twice", e.ID)
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}

// CheckRead enforces what every store requires of a read, before it touches anything:
// a version from 0 and a max of at least one. A violation is a domain.EINVALID error.
// ReadAll has no version to check (from 0); its cursor is each engine's own to parse.
func CheckRead(from int64, max int) error {
	if from < 0 {
		return domain.Errorf(domain.EINVALID, "negative version %d", from)
	}
	if max < 1 {
		return domain.Errorf(domain.EINVALID, "max %d, want >= 1", max)
	}
	return nil
}
