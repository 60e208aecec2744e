package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/scanledger/scanledger/domain/event"
)

// tail appends chained events to one stream that writers in other processes may append
// to as well: it remembers the stream's last version and link, catches up before each
// append and tries again when another writer got there first.
type tail struct {
	stream  string
	version int64 // the last event's version, event.NoStream before the first
	head    string
}

func newTail(stream string) tail { return tail{stream: stream, version: event.NoStream} }

// catchUp reads what was appended since the last call and hands each event to seen.
func (t *tail) catchUp(ctx context.Context, st event.Store, seen func(event.Recorded) error) error {
	const page = 512
	for {
		recs, err := st.ReadStream(ctx, t.stream, t.version+1, page)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.stream, err)
		}
		for _, r := range recs {
			m, err := event.ParseMetadata(r.Metadata)
			if err != nil {
				return fmt.Errorf("%s version %d: %w", t.stream, r.Version, err)
			}
			if seen != nil {
				if err := seen(r); err != nil {
					return err
				}
			}
			t.version, t.head = r.Version, m.Chain
		}
		if len(recs) < page {
			return nil
		}
	}
}

// link is where the next event goes: its version and the link before it.
func (t *tail) link() (int64, string) {
	if t.version == event.NoStream {
		return 0, t.stream
	}
	return t.version + 1, t.head
}

// append appends one event made by mk for the next version, catching up and making it
// again when another writer appended first.
func (t *tail) append(ctx context.Context, st event.Store, seen func(event.Recorded) error, mk func(version int64, prev string) (event.Data, error)) (event.AppendResult, error) {
	var lastErr error
	for try := 0; try < 20; try++ {
		if err := t.catchUp(ctx, st, seen); err != nil {
			return event.AppendResult{}, err
		}
		version, prev := t.link()
		d, err := mk(version, prev)
		if err != nil {
			return event.AppendResult{}, err
		}
		res, err := st.Append(ctx, t.stream, t.version, []event.Data{d})
		if err == nil {
			m, _ := event.ParseMetadata(d.Metadata)
			t.version, t.head = res.Version, m.Chain
			return res, nil
		}
		if !errors.Is(err, event.ErrWrongExpectedVersion) {
			return event.AppendResult{}, fmt.Errorf("append to %s: %w", t.stream, err)
		}
		lastErr = err
	}
	return event.AppendResult{}, fmt.Errorf("append to %s: gave up: %w", t.stream, lastErr)
}

func isConflict(err error) bool { return errors.Is(err, event.ErrWrongExpectedVersion) }
