package main

import (
	"path/filepath"
	"sync"
	"testing"
)

// Instances starting at once on one data dir must all sign with one key: a process that
// loses the race to create the key file reads the winner's whole key, never a file the
// winner has created but not written yet.
func TestProcessesStartingAtOnceAllGetTheWinnersWholeKey(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "secret.key")
		keys := make([]string, 16)
		errs := make([]error, len(keys))
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range keys {
			done.Go(func() {
				start.Wait()
				keys[i], errs[i] = keyFile(path, randomHex(32))
			})
		}
		start.Done()
		done.Wait()
		for i := range keys {
			if errs[i] != nil || len(keys[i]) != 64 || keys[i] != keys[0] {
				t.Fatalf("round %d, caller %d: key %q, error %v; caller 0: %q", round, i, keys[i], errs[i], keys[0])
			}
		}
	}
}
