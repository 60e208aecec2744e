package sqlite_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain/audit/audittest"
	"github.com/scanledger/scanledger/domain/event"
)

// TestVerifyAllFigure measures `verify --all` over SCANLEDGER_VERIFY_EVENTS events in
// one SQLite file (scripts/bench.sh runs it with 200,000); skipped unless set:
//
//	SCANLEDGER_VERIFY_EVENTS=1000000 go test -count=1 -timeout 30m -run TestVerifyAllFigure -v ./adapters/sqlite/
func TestVerifyAllFigure(t *testing.T) {
	audittest.VerifyAllFigure(t, func(t *testing.T) event.Store {
		return pollEvery(sqlite.NewStore(openDB(t)), time.Hour)
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
