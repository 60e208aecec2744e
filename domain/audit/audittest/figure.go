package audittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
)

// FigureEnv names the number of events VerifyAllFigure measures.
const FigureEnv = "SCANLEDGER_VERIFY_EVENTS"

// VerifyAllFigure measures `verify --all` over $SCANLEDGER_VERIFY_EVENTS events in st
// (10 per stream, payloads the size of progress events, sealed once) and logs the wall
// and CPU time, the cost per event, those costs for a million events and the load
// average. It is skipped unless the variable is set: the figure goes in
// docs/benchmarks.md, never in an assertion. open is called only when it runs.
func VerifyAllFigure(t *testing.T, open func(t *testing.T) event.Store) {
	n, _ := strconv.Atoi(os.Getenv(FigureEnv))
	if n <= 0 {
		t.Skip("set " + FigureEnv + " to measure")
	}
	ctx := t.Context()
	st := open(t)
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
	per := func(d time.Duration) time.Duration { return d / time.Duration(rep.Events) }
	t.Logf("first seal over %d events: %v", rep.Events, sealed.Round(time.Millisecond))
	t.Logf("verify --all: %d streams, %d events in %v wall, %v CPU; per event %v wall, %v CPU; per 1,000,000 events %.1f s wall, %.1f s CPU; load average %s",
		rep.Streams, rep.Events, took.Round(time.Millisecond), used.Round(time.Millisecond), per(took), per(used),
		(per(took) * 1e6).Seconds(), (per(used) * 1e6).Seconds(), loadAverage())
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the 1, 5 and 15 minute load averages, or "unknown" off Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
