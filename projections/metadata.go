package projections

import (
	"fmt"
	"strings"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
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

// ScanEvent is one event of a scan's stream as the projectors read it.
type ScanEvent struct {
	ScanID string
	Event  scan.Event
	At     time.Time // when it happened (see EventMetadata)
}

// DecodeScanEvent decodes e when it belongs to a scan's stream; ok is false for another
// aggregate's stream. A scan stream whose id is not a UUID is an error here, so that
// SQLite rejects what Postgres's uuid columns would.
func DecodeScanEvent(e event.Recorded) (se ScanEvent, ok bool, err error) {
	id, ok := strings.CutPrefix(e.StreamID, scan.StreamPrefix)
	if !ok {
		return ScanEvent{}, false, nil
	}
	if !domain.ValidID(id) {
		return ScanEvent{}, true, fmt.Errorf("stream %s: scan id is not a UUID", e.StreamID)
	}
	ev, err := scan.Decode(e)
	if err != nil {
		return ScanEvent{}, true, err
	}
	md, err := EventMetadata(e)
	if err != nil {
		return ScanEvent{}, true, err
	}
	return ScanEvent{ScanID: id, Event: ev, At: md.OccurredAt}, true, nil
}
