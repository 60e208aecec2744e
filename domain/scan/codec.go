package scan

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
)

// SchemaVersion is the current schema version of every scan event type. When a type's
// shape changes, bump its version here and add an upcaster from the old one.
var schemaVersions = map[string]int{
	TypeCreated:           2,
	TypeImagesUploaded:    2,
	TypeProcessingStarted: 2,
	TypeProgressReported:  1,
	TypeCompleted:         2,
	TypeFailed:            1,
	TypeDeleted:           1,
}

// SchemaVersion returns the schema version written for new events of type typ.
func SchemaVersion(typ string) int { return schemaVersions[typ] }

// upcaster rewrites the data of (type, version) into the shape of version+1. Upcasting
// happens on read only; stored bytes are never rewritten.
type upcaster func(data []byte) ([]byte, error)

// upcasters is keyed by type, then by the version an upcaster reads. Register new ones
// here, never remove old ones.
var upcasters = map[string]map[int]upcaster{
	// Version 2 seals the address (personal.go); version 1 events keep it in clear.
	TypeCreated:           {1: upcastCreatedV1},
	TypeImagesUploaded:    {1: upcastImagesUploadedV1},
	TypeProcessingStarted: {1: upcastProcessingStartedV1},
	// Version 2 leaves out what repeats the result (completed.go).
	TypeCompleted: {1: upcastCompletedV1},
}

// Upcast brings stored data of (typ, version) up to the current schema version.
func Upcast(typ string, version int, data []byte) ([]byte, error) {
	cur, ok := schemaVersions[typ]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", typ)
	}
	if version < 1 || version > cur {
		return nil, fmt.Errorf("event type %s: unknown schema version %d", typ, version)
	}
	for v := version; v < cur; v++ {
		up, ok := upcasters[typ][v]
		if !ok {
			return nil, fmt.Errorf("event type %s: no upcaster from version %d", typ, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("upcast %s v%d: %w", typ, v, err)
		}
	}
	return data, nil
}

// Decode turns a recorded scan event into its payload type, upcasting old shapes.
// Sealed personal fields stay sealed (see Open); those of events written before sealing
// are filled in from their plaintext.
func Decode(r event.Recorded) (Event, error) {
	data, err := Upcast(r.Type, r.SchemaVersion, r.Data)
	if err != nil {
		return nil, err
	}
	var e Event
	switch r.Type {
	case TypeCreated:
		e, err = decode[Created](data)
	case TypeImagesUploaded:
		e, err = decode[ImagesUploaded](data)
	case TypeProcessingStarted:
		e, err = decode[ProcessingStarted](data)
	case TypeProgressReported:
		e, err = decode[ProgressReported](data)
	case TypeCompleted:
		e, err = decodeCompleted(data)
	case TypeFailed:
		e, err = decode[Failed](data)
	case TypeDeleted:
		e, err = decode[Deleted](data)
	}
	if err == nil && legacy(e) {
		// Plain fields open without a key.
		e, err = Open(context.Background(), nil, e)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s %s v%d: %w", r.Type, r.ID, r.Version, err)
	}
	return e, nil
}

// legacy reports whether e's personal fields were upcast from plaintext.
func legacy(e Event) bool {
	p := personalOf(e)
	return p != nil && p.Box == nil
}

func personalOf(e Event) *personal.Sealed {
	switch v := e.(type) {
	case Created:
		return v.Personal
	case ImagesUploaded:
		return v.Personal
	case ProcessingStarted:
		return v.Personal
	}
	return nil
}

func decode[T Event](data []byte) (Event, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// Encode returns the stored data of e. Personal fields must have been sealed (Seal):
// plaintext personal data is never written.
func Encode(e Event) ([]byte, error) {
	if unsealed(e) {
		return nil, fmt.Errorf("encode %s: personal fields are not sealed", e.EventType())
	}
	if c, ok := e.(Completed); ok {
		return encodeCompleted(c)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return b, nil
}
