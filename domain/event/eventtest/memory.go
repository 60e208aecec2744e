// Package eventtest holds an in-memory event.Store for the tests of what sits on the
// port (command handlers, the worker); the adapters themselves are held to the port by
// domain/eventstoretest.
package eventtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain/event"
)

// Memory keeps streams with optimistic concurrency and reads them back; it has no
// subscription. The zero value is an empty store.
type Memory struct {
	mu sync.Mutex
	// All is every recorded event in append order. A test may edit it to tamper with
	// or roll back the store while nothing else uses the store.
	All []event.Recorded
}

// Append stores evs at the end of stream if it is at the expected version.
func (m *Memory) Append(_ context.Context, stream string, expected int64, evs []event.Data) (event.AppendResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := int64(-1)
	for _, r := range m.All {
		if r.StreamID == stream {
			cur = r.Version
		}
	}
	if expected != event.Any && expected != cur {
		return event.AppendResult{}, fmt.Errorf("%s: %w", stream, event.ErrWrongExpectedVersion)
	}
	for _, e := range evs {
		cur++
		m.All = append(m.All, event.Recorded{ID: e.ID, StreamID: stream, Version: cur, Type: e.Type,
			SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata, RecordedAt: time.Now(),
			Position: event.Cursor(strconv.Itoa(len(m.All) + 1))})
	}
	return event.AppendResult{Version: cur, Position: m.All[len(m.All)-1].Position}, nil
}

// ReadStream returns up to max events of stream from version from on.
func (m *Memory) ReadStream(_ context.Context, stream string, from int64, max int) ([]event.Recorded, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []event.Recorded
	for _, r := range m.All {
		if r.StreamID == stream && r.Version >= from && len(out) < max {
			out = append(out, r)
		}
	}
	return out, nil
}

// ReadAll returns up to max events after the cursor, in append order.
func (m *Memory) ReadAll(_ context.Context, after event.Cursor, max int) ([]event.Recorded, error) {
	i := 0
	if after != event.Start {
		var err error
		if i, err = strconv.Atoi(string(after)); err != nil {
			return nil, fmt.Errorf("cursor %q: %w", after, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if i >= len(m.All) {
		return nil, nil
	}
	return append([]event.Recorded(nil), m.All[i:min(len(m.All), i+max)]...), nil
}

// Subscribe is not supported: the tests this store serves do not follow the
// all-stream.
func (m *Memory) Subscribe(context.Context, event.Cursor, event.Handler) error {
	return errors.New("eventtest.Memory: Subscribe is not supported")
}
