package kurrentdb_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/kurrentdb"
	"github.com/scanledger/scanledger/adapters/kurrentdb/kurrentdbtest"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/eventstoretest"
	"github.com/scanledger/scanledger/internal/logtest"
)

// Events in our streams that we did not write (a tombstone, a link, a $-typed event,
// another writer's event without our envelope) are skipped with a log line: ReadAll
// and Subscribe go on past them instead of failing at that cursor forever.
func TestForeignEventsAreSkipped(t *testing.T) {
	fs := &kurrentdbtest.Server{SystemProjections: true}
	conn := fs.Start(t)
	s, logs := openLogged(t, conn)
	c, _ := subscribe(t, s)

	var want []string
	add := func(stream string) {
		t.Helper()
		e := testEvent()
		if _, err := s.Append(t.Context(), stream, event.Any, []event.Data{e}); err != nil {
			t.Fatalf("Append: %v", err)
		}
		want = append(want, e.ID)
	}
	add("test-f1")
	fs.InjectEvent("test-f1", "SomeoneElses", []byte(`{}`), []byte(`{"by":"a tool"}`))
	fs.InjectEvent("test-f1", "$metadata", []byte(`{}`), nil)
	fs.InjectLink("test-f2", "test-f1", 0)
	add("test-f3")
	fs.TombstoneStream("test-f3")
	add("test-f4")

	c.waitFor(t, want)
	got, err := s.ReadAll(t.Context(), event.Start, 100)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("ReadAll = %d events, want %d", len(got), len(want))
	}
	// Page by page, one at a time, past every foreign event.
	cur, n := event.Start, 0
	for {
		page, err := s.ReadAll(t.Context(), cur, 1)
		if err != nil {
			t.Fatalf("ReadAll(%q, 1): %v", cur, err)
		}
		if len(page) == 0 {
			break
		}
		if page[0].ID != want[n] {
			t.Fatalf("event %d = %s, want %s", n, page[0].ID, want[n])
		}
		cur, n = page[0].Position, n+1
	}
	if n != len(want) {
		t.Fatalf("paged through %d events, want %d", n, len(want))
	}
	for _, typ := range []string{"SomeoneElses", "$metadata", "$>", "$streamDeleted"} {
		if !strings.Contains(logs.String(), "type="+typ) {
			t.Errorf("no log line for the skipped %s event:\n%s", typ, logs)
		}
	}

	// A stream holding a foreign event: its revision counts for expected versions.
	stored, err := s.ReadStream(t.Context(), "test-f1", 0, 10)
	if err != nil || len(stored) != 1 {
		t.Fatalf("ReadStream(test-f1) = %+v, %v; want our one event", stored, err)
	}
	if _, err := s.Append(t.Context(), "test-f1", 0, []event.Data{testEvent()}); !domainIs(err, event.ErrWrongExpectedVersion) {
		t.Fatalf("Append at version 0 after foreign events = %v, want wrong expected version", err)
	}
	res, err := s.Append(t.Context(), "test-f1", 2, []event.Data{testEvent()})
	if err != nil || res.Version != 3 {
		t.Fatalf("Append at version 2 = %+v, %v; want version 3", res, err)
	}

	// A tombstoned stream refuses appends with a conflict, not a 500.
	if _, err := s.Append(t.Context(), "test-f3", event.Any, []event.Data{testEvent()}); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("Append to a tombstoned stream = %v, want ECONFLICT", err)
	}
}

func domainIs(err error, target *domain.Error) bool {
	return err != nil && domain.ErrorCode(err) == target.Code && strings.Contains(err.Error(), target.Message)
}

// A truncated stream ($tb through $maxCount, $maxAge or a soft delete) does not start
// at revision 0: expected versions and idempotent retries go by each event's version.
func TestTruncatedStreamKeepsVersions(t *testing.T) {
	fs, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	var evs []event.Data
	for i := range 3 {
		e := testEvent()
		evs = append(evs, e)
		if _, err := s.Append(t.Context(), "test-t", int64(i)-1, []event.Data{e}); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	fs.Truncate("test-t", 2)
	got, err := s.ReadStream(t.Context(), "test-t", 0, 10)
	if err != nil || len(got) != 1 || got[0].Version != 2 {
		t.Fatalf("ReadStream = %+v, %v; want only version 2", got, err)
	}
	// A retry of the last append (expected 1) is recognised by its version.
	res, err := s.Append(t.Context(), "test-t", 1, []event.Data{evs[2]})
	if err != nil || res.Version != 2 {
		t.Fatalf("retry of version 2 = %+v, %v; want version 2 again", res, err)
	}
	next := testEvent()
	if res, err := s.Append(t.Context(), "test-t", 2, []event.Data{next}); err != nil || res.Version != 3 {
		t.Fatalf("Append at expected 2 = %+v, %v; want version 3", res, err)
	}
	if _, err := s.Append(t.Context(), "test-t", 0, []event.Data{testEvent()}); !domainIs(err, event.ErrWrongExpectedVersion) {
		t.Fatalf("Append at stale expected 0 = %v, want wrong expected version", err)
	}
}

// $maxCount and $maxAge set on a stream by someone else hide its oldest events from
// stream reads, a window that moves as the stream grows or time passes: versions stay
// the events' revisions, appends go on at the real current version, and $all (which
// the projections read) keeps every event until the server scavenges.
func TestStreamLimitsKeepVersions(t *testing.T) {
	fs, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	appendAt := func(stream string, expected int64) event.Data {
		t.Helper()
		e := testEvent()
		if res, err := s.Append(t.Context(), stream, expected, []event.Data{e}); err != nil || res.Version != expected+1 {
			t.Fatalf("Append to %s at expected %d = %+v, %v", stream, expected, res, err)
		}
		return e
	}
	versions := func(stream string) []int64 {
		t.Helper()
		got, err := s.ReadStream(t.Context(), stream, 0, 10)
		if err != nil {
			t.Fatalf("ReadStream %s: %v", stream, err)
		}
		var vs []int64
		for _, r := range got {
			vs = append(vs, r.Version)
		}
		return vs
	}

	for i := range 3 {
		appendAt("test-count", int64(i)-1)
	}
	fs.SetStreamLimits("test-count", 2, 0)
	if got := versions("test-count"); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("with $maxCount 2, ReadStream gives versions %v, want [1 2]", got)
	}
	appendAt("test-count", 2)
	if got := versions("test-count"); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("after one more append, versions %v, want [2 3]", got)
	}

	old := appendAt("test-age", event.NoStream)
	fs.Advance(2 * time.Hour)
	appendAt("test-age", 0)
	fs.SetStreamLimits("test-age", 0, time.Hour)
	if got := versions("test-age"); !slices.Equal(got, []int64{1}) {
		t.Fatalf("with $maxAge 1h, ReadStream gives versions %v, want [1]", got)
	}
	appendAt("test-age", 1)

	all, err := s.ReadAll(t.Context(), event.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(r event.Recorded) bool { return r.ID == old.ID }) || len(all) != 7 {
		t.Fatalf("$all holds %d events, want all 7 including the aged one", len(all))
	}
}

// The secure set-up KurrentDB runs by default: TLS with our CA and Basic credentials.
// The conformance suite passes over it as the admin user.
func TestSecureConnection(t *testing.T) {
	fs := &kurrentdbtest.Server{Secure: true}
	conn := fs.Start(t)
	if !strings.Contains(conn, "admin:changeit@") || !strings.Contains(conn, "tlsCAFile=") {
		t.Fatalf("secure connection string %q lacks credentials or CA", conn)
	}
	eventstoretest.RunWithOptions(t, func(t *testing.T) event.Store { return open(t, conn) },
		eventstoretest.Options{PerStreamEventIDs: true})

	// Without the CA the server's certificate is not trusted.
	untrusted := strings.Split(conn, "?")[0] + "?maxDiscoverAttempts=1"
	s, _ := openLogged(t, untrusted)
	if _, err := s.ReadStream(t.Context(), "test-x", 0, 1); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("ReadStream without the CA = %v, want EUNAVAILABLE", err)
	}
	_ = fs
}

// Refusals that never heal by retrying (missing rights, wrong password) are logged and
// reported by Ready, while Subscribe keeps trying in case an operator fixes them.
func TestRefusalsAreLoggedAndShownByReady(t *testing.T) {
	fs := &kurrentdbtest.Server{Secure: true}
	fs.Start(t)

	// An ordinary user may use its streams but not $all.
	s, logs := openLogged(t, fs.URL(kurrentdbtest.ReaderUser, kurrentdbtest.TestPassword))
	if _, err := s.Append(t.Context(), "test-p", event.NoStream, []event.Data{testEvent()}); err != nil {
		t.Fatalf("Append as a plain user: %v", err)
	}
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready before any refusal = %v", err)
	}
	_, err := s.ReadAll(t.Context(), event.Start, 10)
	if domain.ErrorCode(err) != domain.EUNAVAILABLE || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("ReadAll as a plain user = %v, want EUNAVAILABLE saying access was denied", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, event.Start, func(context.Context, []event.Recorded) error { return nil })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "op=subscribe") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the refused subscription:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("Ready with a refused subscription = %v, want the refusal", err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Subscribe = %v, want context.Canceled", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("refusal not logged at error level:\n%s", logs)
	}

	// A wrong password.
	bad, badLogs := openLogged(t, fs.URL(kurrentdbtest.AdminUser, "wrong"))
	cannotConnect(t, bad, badLogs, "with a wrong password", "credentials")
}

// KurrentDB 24.10 and 25.0 take at most 1 MiB per append by default. The server's
// refusal comes back as ETOOLARGE with nothing stored; a Store told the limit refuses
// larger appends itself, before sending.
func TestAppendSizeLimit(t *testing.T) {
	_, conn := kurrentdbtest.Start(t) // MaxAppendSize 1 MiB
	s := open(t, conn)
	big := func(n int) event.Data {
		e := testEvent()
		e.Data = []byte(`{"x":"` + strings.Repeat("a", n) + `"}`)
		return e
	}
	_, err := s.Append(t.Context(), "test-big", event.NoStream, []event.Data{big(600 << 10), big(600 << 10)})
	if domain.ErrorCode(err) != domain.ETOOLARGE {
		t.Fatalf("Append of 1.2 MiB = %v, want ETOOLARGE", err)
	}
	if got, _ := s.ReadStream(t.Context(), "test-big", 0, 1); len(got) != 0 {
		t.Fatalf("the refused append stored %d events", len(got))
	}
	if _, err := s.Append(t.Context(), "test-big", event.NoStream, []event.Data{big(900 << 10)}); err != nil {
		t.Fatalf("Append of 900 KiB: %v", err)
	}

	strict, err := kurrentdb.Open(t.Context(), conn)
	if err == nil {
		strict.StreamPrefixes, strict.MaxAppendSize = []string{"test-"}, 64<<10
	}
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	_, err = strict.Append(t.Context(), "test-big2", event.NoStream, []event.Data{big(100 << 10)})
	if domain.ErrorCode(err) != domain.ETOOLARGE || !strings.Contains(err.Error(), "at most 65536") {
		t.Fatalf("Append above the configured limit = %v, want ETOOLARGE naming the limit", err)
	}
}

// The client silently replaces the all-zero UUID with a random one, which would make a
// retry write the event twice: the Store refuses it.
func TestNilEventIDIsInvalid(t *testing.T) {
	_, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	e := testEvent()
	e.ID = "00000000-0000-0000-0000-000000000000"
	if _, err := s.Append(t.Context(), "test-nil", event.NoStream, []event.Data{e}); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("Append with the nil UUID = %v, want EINVALID", err)
	}
}

// Every call asks for the leader: the v4 client's own flag never reaches the wire, and
// a follower would serve stale reads to Append's idempotency check.
func TestCallsRequireLeader(t *testing.T) {
	fs, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	c, _ := subscribe(t, s)
	e := testEvent()
	if _, err := s.Append(t.Context(), "test-l", event.NoStream, []event.Data{e}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(t.Context(), event.Start, 10); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, []string{e.ID})
	if n := fs.CallsWithoutLeaderHeader(); n != 0 {
		t.Fatalf("%d calls went without requires-leader", n)
	}
}

// A follower answers every call that asks for the leader (all of the Store's) with
// NotLeader and the leader's address, as a KurrentDB follower does. The client moves to
// the leader; the call that reached the follower fails with 503 (nothing was written)
// and its retry, with the same event ids, is stored on the leader; the subscription
// resubscribes there and delivers it. The stand-ins share
// no data, so this shows the redirect, not replication.
func TestNotLeaderMovesToTheLeader(t *testing.T) {
	leader, _ := kurrentdbtest.Start(t)
	follower, conn := kurrentdbtest.Start(t)
	follower.FollowLeader(leader)
	s := open(t, conn)
	e := testEvent()
	if _, err := s.Append(t.Context(), "test-nl", event.NoStream, []event.Data{e}); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("Append on a follower = %v, want EUNAVAILABLE", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Append(t.Context(), "test-nl", event.NoStream, []event.Data{e})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retry never reached the leader: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := s.ReadStream(t.Context(), "test-nl", 0, 10)
	if err != nil || len(got) != 1 || got[0].ID != e.ID {
		t.Fatalf("ReadStream after the move = %v, %v; want the one event", got, err)
	}
	if n := leader.StreamLength("test-nl"); n != 1 {
		t.Fatalf("the leader holds %d events of the stream, want 1", n)
	}
	if n := follower.StreamLength("test-nl"); n != 0 {
		t.Fatalf("the follower holds %d events of the stream, want none", n)
	}

	other, conn := kurrentdbtest.Start(t)
	other.FollowLeader(leader)
	c, _ := subscribe(t, open(t, conn)) // starts on a follower
	c.waitFor(t, []string{e.ID})
}

// cannotConnect checks that a Store which cannot connect says why (about) in an
// append's EUNAVAILABLE error, fails Ready and logs it.
func cannotConnect(t *testing.T, s *kurrentdb.Store, logs *logtest.Buffer, when, about string) {
	t.Helper()
	_, err := s.Append(t.Context(), "test-c", event.Any, []event.Data{testEvent()})
	if domain.ErrorCode(err) != domain.EUNAVAILABLE || !strings.Contains(err.Error(), about) {
		t.Fatalf("Append %s = %v, want EUNAVAILABLE about %s", when, err, about)
	}
	if err := s.Ready(t.Context()); err == nil {
		t.Fatalf("Ready %s = nil", when)
	}
	if !strings.Contains(logs.String(), about) {
		t.Fatalf("%s: not logged:\n%s", when, logs)
	}
}

// The v4 client cannot parse a pre-release server version and gives up connecting:
// the Store says so, in errors, readiness and the log.
func TestPreReleaseServerVersion(t *testing.T) {
	conn := (&kurrentdbtest.Server{Version: "26.2.0-alpha"}).Start(t)
	s, logs := openLogged(t, conn+"&maxDiscoverAttempts=1")
	cannotConnect(t, s, logs, "with a pre-release server", "version")
}

// A parse error keeps its detail for the operator but never the password.
func TestBadConnectionStringKeepsDetailNotPassword(t *testing.T) {
	_, err := kurrentdb.Open(t.Context(), "esdb://admin:s3cret@host:2113?tls=maybe")
	if domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("Open = %v, want EINVALID", err)
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("Open error %q: want the detail about tls and no password", err)
	}
}

func TestCursorWithCommitBeforePrepareIsInvalid(t *testing.T) {
	_, conn := kurrentdbtest.Start(t)
	s := open(t, conn)
	if _, err := s.ReadAll(t.Context(), "5:6", 1); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("ReadAll(5:6) = %v, want EINVALID", err)
	}
}

// A live subscription that receives more events at once than the server's live
// buffer holds is either moved back to catch-up or dropped as too slow; both must end
// with every event delivered once.
func TestSlowConsumer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dropSlow bool
	}{{"falls back to catch-up", false}, {"dropped as too slow", true}} {
		t.Run(tc.name, func(t *testing.T) {
			conn := (&kurrentdbtest.Server{DropSlowConsumers: tc.dropSlow}).Start(t)
			s := open(t, conn)
			c, _ := subscribe(t, s)
			first := testEvent()
			if _, err := s.Append(t.Context(), "test-slow", event.NoStream, []event.Data{first}); err != nil {
				t.Fatal(err)
			}
			want := []string{first.ID}
			c.waitFor(t, want)
			var batch []event.Data
			for range kurrentdbtest.LiveBuffer + 8 {
				e := testEvent()
				batch = append(batch, e)
				want = append(want, e.ID)
			}
			if _, err := s.Append(t.Context(), "test-slow", 0, batch); err != nil {
				t.Fatal(err)
			}
			c.waitFor(t, want)
		})
	}
}
