package sqlite_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
)

// TestVerifyAllFigure measures `verify --all` over SCANLEDGER_VERIFY_EVENTS events (10
// per stream, payloads the size of progress events) and logs the time. It is skipped
// unless the variable is set:
//
//	SCANLEDGER_VERIFY_EVENTS=1000000 go test -run TestVerifyAllFigure -v ./adapters/sqlite/
func TestVerifyAllFigure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SCANLEDGER_VERIFY_EVENTS"))
	if n <= 0 {
		t.Skip("set SCANLEDGER_VERIFY_EVENTS to measure")
	}
	ctx := t.Context()
	st := pollEvery(sqlite.NewStore(openDB(t)), time.Hour)
	const perStream = 10
	for s := 0; s < n/perStream; s++ {
		stream := fmt.Sprintf("scan-%08d", s)
		prev := stream
		batch := make([]event.Data, perStream)
		for v := range perStream {
			data, _ := json.Marshal(map[string]any{"attempt": 1, "percent": v * 10, "message": "Analyzing images"})
			d, link, err := event.Chained(stream, int64(v), prev, domain.NewEventID(), "ProgressReported", 1, data,
				event.Metadata{OccurredAt: time.Now(), UserID: "0190b7d2-0000-7000-8000-000000000001", CorrelationID: stream, CausationID: stream})
			if err != nil {
				t.Fatal(err)
			}
			batch[v], prev = d, link
		}
		if _, err := st.Append(ctx, stream, event.NoStream, batch); err != nil {
			t.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	start := time.Now()
	if _, _, err := audit.NewSealer(st, key).Seal(ctx); err != nil {
		t.Fatal(err)
	}
	sealed := time.Since(start)
	start, cpu := time.Now(), cpuTime()
	rep, err := audit.Verifier{Store: st, Public: key.Public().(ed25519.PublicKey)}.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took, used := time.Since(start), cpuTime()-cpu
	if !rep.OK() || rep.Events != int64(n/perStream*perStream) {
		t.Fatalf("report %+v", rep)
	}
	// CPU time is logged beside the wall time: on a shared machine the wall time says
	// more about the neighbours than about the verifier.
	t.Logf("first seal over %d events: %v; verify --all: %d streams, %d events in %v wall, %v CPU (%.0f events/s)",
		rep.Events, sealed, rep.Streams, rep.Events, took, used, float64(rep.Events)/took.Seconds())
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
