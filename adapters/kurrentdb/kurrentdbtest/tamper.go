package kurrentdbtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// Tamper changes stored events behind the client's back, as someone with access to a
// node's files could; the audit tamper suite uses it.
type Tamper struct{ fs *Server }

// Tamper returns the server's Tamper.
func (fs *Server) Tamper() Tamper { return Tamper{fs} }

func (fs *Server) find(stream string, version int64) (*record, error) {
	st := fs.byStream[stream]
	if st == nil {
		return nil, fmt.Errorf("fake: no stream %s", stream)
	}
	for _, e := range st.events {
		if int64(e.revision) == version {
			return e, nil
		}
	}
	return nil, fmt.Errorf("fake: no event %s@%d", stream, version)
}

// Rewrite replaces an event's data and custom metadata.
func (t Tamper) Rewrite(_ context.Context, stream string, version int64, data, metadata []byte) error {
	return t.onEvent(stream, version, func(fs *Server, e *record) {
		// The adapter wraps our metadata in its own envelope; keep the envelope.
		head, _, _ := bytes.Cut(e.custom, []byte(`,"metadata":`))
		custom := append(slices.Clone(head), `,"metadata":`...)
		custom = append(custom, metadata...)
		e.data, e.custom = slices.Clone(data), append(custom, '}')
	})
}

// Delete removes one event.
func (t Tamper) Delete(_ context.Context, stream string, version int64) error {
	return t.onEvent(stream, version, func(fs *Server, e *record) {
		drop := func(es []*record) []*record {
			return slices.DeleteFunc(es, func(x *record) bool { return x == e })
		}
		fs.byStream[stream].events, fs.log = drop(fs.byStream[stream].events), drop(fs.log)
	})
}

// onEvent runs f on the event stream@version with the server locked, or reports that
// there is no such event.
func (t Tamper) onEvent(stream string, version int64, f func(fs *Server, e *record)) error {
	fs := t.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	e, err := fs.find(stream, version)
	if err != nil {
		return err
	}
	f(fs, e)
	return nil
}

// DeleteStream removes a stream's every event.
func (t Tamper) DeleteStream(_ context.Context, stream string) error {
	fs := t.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.log = slices.DeleteFunc(fs.log, func(x *record) bool { return x.stream == stream })
	delete(fs.byStream, stream)
	return nil
}

// Swap exchanges the revisions of two events of a stream.
func (t Tamper) Swap(_ context.Context, stream string, v1, v2 int64) error {
	fs := t.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	a, err := fs.find(stream, v1)
	if err != nil {
		return err
	}
	b, err := fs.find(stream, v2)
	if err != nil {
		return err
	}
	a.revision, b.revision = b.revision, a.revision
	es := fs.byStream[stream].events
	i, j := slices.Index(es, a), slices.Index(es, b)
	es[i], es[j] = es[j], es[i]
	return nil
}
