package event_test

import (
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

func TestCheckReadRefusesANegativeVersionAndAnEmptyPage(t *testing.T) {
	for _, c := range []struct {
		from int64
		max  int
		msg  string // "" when the read is allowed
	}{
		{0, 1, ""},
		{7, 500, ""},
		{-1, 1, "negative version -1"},
		{0, 0, "max 0, want >= 1"},
		{0, -3, "max -3, want >= 1"},
	} {
		err := event.CheckRead(c.from, c.max)
		if c.msg == "" {
			if err != nil {
				t.Errorf("CheckRead(%d, %d) = %v, want nil", c.from, c.max, err)
			}
			continue
		}
		if domain.ErrorCode(err) != domain.EINVALID || domain.ErrorMessage(err) != c.msg {
			t.Errorf("CheckRead(%d, %d) = %v, want EINVALID %q", c.from, c.max, err, c.msg)
		}
	}
}
