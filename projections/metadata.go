package projections

import (
	"github.com/scanledger/scanledger/domain/event"
)

// EventMetadata parses e's metadata. Projected timestamps come from its OccurredAt so
// that replaying the same events always builds the same rows; an event written without
// one falls back to the store's RecordedAt, which is just as fixed.
func EventMetadata(e event.Recorded) (event.Metadata, error) {
	m, err := event.ParseMetadata(e.Metadata)
	if err != nil {
		return event.Metadata{}, err
	}
	if m.OccurredAt.IsZero() {
		m.OccurredAt = e.RecordedAt
	}
	m.OccurredAt = m.OccurredAt.UTC()
	return m, nil
}
