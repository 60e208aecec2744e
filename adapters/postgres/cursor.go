package postgres

import (
	"strconv"
	"strings"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// position is a place in the all-stream: the appending transaction's id, then the
// event's position within the table. Its cursor is "xid:position" in decimal.
type position struct {
	xid uint64
	pos int64
}

func (p position) cursor() event.Cursor {
	return event.Cursor(strconv.FormatUint(p.xid, 10) + ":" + strconv.FormatInt(p.pos, 10))
}

// parseCursor accepts only the canonical form, so that one position has one cursor
// and a cursor from another adapter (SQLite's are plain numbers) fails loudly instead
// of reading from the wrong place. Start is the position before every event.
func parseCursor(c event.Cursor) (position, error) {
	if c == event.Start {
		return position{}, nil
	}
	x, p, ok := strings.Cut(string(c), ":")
	if ok {
		xid, err1 := strconv.ParseUint(x, 10, 64)
		pos, err2 := strconv.ParseInt(p, 10, 64)
		if err1 == nil && err2 == nil && pos >= 0 && (position{xid, pos}).cursor() == c {
			return position{xid, pos}, nil
		}
	}
	return position{}, domain.Errorf(domain.EINVALID, "malformed cursor %q", string(c))
}
