package eventstoretest

import (
	"context"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// MalformedCursorsAreInvalid checks an engine's cursor parsing, whose format is its own:
// each of malformed is a domain.EINVALID error from ReadAll and from Subscribe, and zero,
// the engine's spelling of the position before every event, reads as event.Start does.
func MalformedCursorsAreInvalid(t *testing.T, s event.Store, malformed []event.Cursor, zero event.Cursor) {
	t.Helper()
	ctx := t.Context()
	for _, c := range malformed {
		_, err := s.ReadAll(ctx, c, 10)
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("ReadAll(%q): got %v, want an EINVALID error", c, err)
		}
		err = s.Subscribe(ctx, c, func(context.Context, []event.Recorded) error { return nil })
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("Subscribe(%q): got %v, want an EINVALID error", c, err)
		}
	}
	if _, err := s.ReadAll(ctx, zero, 10); err != nil {
		t.Errorf("ReadAll(%q) = %v, want the same as Start", zero, err)
	}
}
