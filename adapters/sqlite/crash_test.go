package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/migrations"
)

// crashChildEnv names the database file a child process of
// TestAcknowledgedAppendsSurviveAKilledProcess appends to; unset, the test is the parent.
const crashChildEnv = "SCANLEDGER_CRASH_CHILD_DB"

// Every append the store acknowledged is in the database after the process is
// SIGKILLed mid-run. A child process (this test binary, re-run) appends from four
// writers and prints each event's id only once Append has returned nil; the parent
// kills it while it is still appending, reopens the file and looks for every printed
// id. Three kills, each on the file the last one left. A SIGKILL loses what the
// process had not handed to the kernel; an OS crash or power cut also loses what the
// kernel had not written, which synchronous=FULL on the write connection covers
// (TestWriteConnectionSyncsEveryCommit; see docs/operations.md).
func TestAcknowledgedAppendsSurviveAKilledProcess(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		appendUntilKilled(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "events.db")
	acked := map[string]bool{}
	for round := range 3 {
		ids := runUntilKilled(t, path, 200)
		for _, id := range ids {
			acked[id] = true
		}
		db, err := sqlite.Open(context.Background(), path, migrations.EventStore)
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		stored := map[string]bool{}
		store := sqlite.NewStore(db)
		var after event.Cursor
		for {
			batch, err := store.ReadAll(context.Background(), after, 1000)
			if err != nil {
				t.Fatalf("round %d: ReadAll: %v", round, err)
			}
			if len(batch) == 0 {
				break
			}
			for _, e := range batch {
				stored[e.ID] = true
			}
			after = batch[len(batch)-1].Position
		}
		db.Close()
		var lost []string
		for id := range acked {
			if !stored[id] {
				lost = append(lost, id)
			}
		}
		t.Logf("round %d: %d appends acknowledged in this run, %d in all, %d events stored", round, len(ids), len(acked), len(stored))
		if len(lost) > 0 {
			t.Fatalf("round %d: %d acknowledged appends are missing after the kill, e.g. %s", round, len(lost), lost[0])
		}
	}
}

// runUntilKilled starts the child on path, reads the ids it acknowledges, and
// SIGKILLs it once at least n have come (so it dies mid-append, not after the last
// one). It returns every id the child printed before it died.
func runUntilKilled(t *testing.T, path string, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedAppendsSurviveAKilledProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var ids []string
	guard := time.After(60 * time.Second)
	killed := false
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				if !killed {
					t.Fatalf("the child ended before it was killed, after %d appends:\n%s", len(ids), stderr.String())
				}
				return ids
			}
			if id, ok := strings.CutPrefix(l, "acked "); ok {
				ids = append(ids, id)
			}
			if len(ids) >= n && !killed {
				_ = cmd.Process.Kill()
				killed = true
			}
		case <-guard:
			_ = cmd.Process.Kill()
			t.Fatalf("the child acknowledged %d of %d appends within 60s:\n%s", len(ids), n, stderr.String())
		}
	}
}

// appendUntilKilled is the child: four writers append one event at a time, for ever,
// and print each id after its Append returned.
func appendUntilKilled(t *testing.T, path string) {
	db, err := sqlite.Open(context.Background(), path, migrations.EventStore)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlite.NewStore(db)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := domain.NewID()
				stream := fmt.Sprintf("crash-%d-%s", w, id[:8])
				ev := event.Data{ID: id, Type: "Test", SchemaVersion: 1, Data: []byte(`{}`), Metadata: []byte(`{}`)}
				if _, err := store.Append(context.Background(), stream, event.Any, []event.Data{ev}); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "acked %s\n", id) // os.Stdout is unbuffered: written before the next append
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
