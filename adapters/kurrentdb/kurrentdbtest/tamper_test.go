package kurrentdbtest_test

import (
	"testing"

	"github.com/scanledger/scanledger/adapters/kurrentdb"
	"github.com/scanledger/scanledger/adapters/kurrentdb/kurrentdbtest"
	"github.com/scanledger/scanledger/domain/audit/audittest"
	"github.com/scanledger/scanledger/domain/event"
)

// The tamper suite's streams are "scan-..." and the seals "audit-seals": the all-stream
// is configured to both, as production does.
func TestTamperingIsCaught(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (event.Store, audittest.Tamperer) {
		fs, conn := kurrentdbtest.Start(t)
		s, err := kurrentdb.Open(t.Context(), conn)
		if err == nil {
			s.StreamPrefixes = []string{"scan-", "audit-"}
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, fs.Tamper()
	})
}
