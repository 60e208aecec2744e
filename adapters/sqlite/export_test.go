package sqlite

// Commits is how many append transactions s has committed: the group-commit
// specifications count them.
func (s *Store) Commits() uint64 { return s.commits.Load() }
