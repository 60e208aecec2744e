package postgres

import "context"

// SetBeforeCommit makes s append in an explicit transaction and call f after the
// writes, before the commit, so that a test can hold an append open.
func SetBeforeCommit(s *Store, f func(ctx context.Context, stream string) error) {
	s.beforeCommit = f
}

// ReadAllSQL is the all-stream query, so that a test can check its plan.
const ReadAllSQL = readAllSQL
