package relay_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/relay"
	"github.com/scanledger/scanledger/adapters/socketio/socketiotest"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections/feed"
)

// A client that reconnects with the last id it saw gets exactly what it missed, in
// order, or an explicit resync when that is no longer in the retained feed.

func TestSSEAndWebSocket_ResumeWithExactlyTheMissedMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T, e *env, tok, resume string) *conn // resume "": none
		live func(e *env, user string) []wire
		// also checks what else the transport promises, once first and then rest
		// (what was missed and what came live) are in the feed.
		also func(t *testing.T, e *env, user string, first, rest []wire)
	}{
		{
			name: "SSE from Last-Event-ID",
			open: func(t *testing.T, e *env, tok, resume string) *conn {
				return openSSE(t, e, sseDial{token: tok, lastID: resume})
			},
			live: (*env).failing,
			also: func(t *testing.T, e *env, user string, first, rest []wire) {
				// EventSource cannot set headers on its first request: ?lastEventId= does the same.
				q := openSSE(t, e, sseDial{token: e.token(user), query: "?lastEventId=" + itoa(int64(len(first)))})
				defer q.drain()
				assertWire(t, q.collect(t, len(rest)), rest, int64(len(first))+1)
			},
		},
		{
			name: "WebSocket after the given id",
			open: func(t *testing.T, e *env, tok, resume string) *conn {
				return openWS(t, e, wsDial{token: tok, after: resume})
			},
			live: (*env).lifecycle,
			also: func(t *testing.T, e *env, user string, first, rest []wire) {
				_, _, err := dialWS(e, wsDial{token: e.token(user), after: "seven"})
				if code := statusOf(t, err); code != 400 {
					t.Errorf("malformed after: status %d, want 400", code)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			user := domain.NewID()
			c := tc.open(t, e, e.token(user), "")
			first := e.lifecycle(user)
			assertWire(t, c.collect(t, len(first)), first, 1)
			c.drain()

			missed := e.failing(user)
			e.waitFeed(user, len(first)+len(missed))
			c = tc.open(t, e, e.token(user), itoa(int64(len(first))))
			defer c.drain()
			assertWire(t, c.collect(t, len(missed)), missed, int64(len(first))+1)
			live := tc.live(e, user)
			assertWire(t, c.collect(t, len(live)), live, int64(len(first)+len(missed))+1)

			tc.also(t, e, user, first, append(missed, live...))
		})
	}
}

func TestSocketIO_ReconnectingClientIsRecoveredWithExactlyTheMissedEvents(t *testing.T) {
	for _, transports := range [][]string{nil, {"websocket"}, {"polling"}} {
		t.Run(fmt.Sprint(transports), func(t *testing.T) {
			e := newEnv(t, envConfig{})
			user := domain.NewID()
			c := startSocketIO(t, e, socketiotest.Options{Token: e.token(user), Transports: transports})
			c.waitFor("connect", socketiotest.IsEv("connect"))
			first := e.lifecycle(user)
			assertWire(t, c.events(len(first)), first, 1)

			missed := c.recoversAfter(e, user, len(first), e.failing)
			assertWire(t, c.events(len(missed)), missed, int64(len(first))+1)
			live := e.failing(user)
			assertWire(t, c.events(len(live)), live, int64(len(first)+len(missed))+1)
		})
	}
}

func TestSocketIO_ClientThatSawNoEventYetIsRecoveredFromWhereItConnected(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	before := e.failing(user) // before the client connects: not its business
	e.waitFeed(user, len(before))
	c := startSocketIO(t, e, socketiotest.Options{Token: e.token(user), Transports: []string{"websocket"}})
	c.waitFor("connect", socketiotest.IsEv("connect"))
	// socket.io-client sends its pid and no offset when it comes back.
	missed := c.recoversAfter(e, user, len(before), e.lifecycle)
	assertWire(t, c.events(len(missed)), missed, int64(len(before))+1)
}

func TestEveryTransport_ResyncsWhenTheResumeIDIsOlderThanTheRetainedFeed(t *testing.T) {
	e := newEnv(t, envConfig{})
	user := domain.NewID()
	// A first scan two days ago, pruned by a one-day retention; a second one now.
	old := scan.NewHandler(e.store)
	old.Now = func() time.Time { return time.Now().Add(-48 * time.Hour) }
	s := e.newScanWith(old, user)
	s.upload()
	s.process()
	s.fail("Python agents service unavailable")
	recent := e.lifecycle(user) // #4..#10
	e.waitFeed(user, 10)

	// A pid this server issued to the user, from an earlier connection.
	early := startSocketIO(t, e, socketiotest.Options{Token: e.token(user), Transports: []string{"websocket"}})
	pid := early.waitFor("connect", socketiotest.IsEv("connect")).PID

	if n, err := feed.Prune(e.ctx, e.write, time.Now().Add(-24*time.Hour)); err != nil || n != 3 {
		t.Fatalf("prune: %d rows, %v; want the first scan's 3", n, err)
	}

	// Resuming after #1 would skip #2 and #3, which are gone: resync, then the rest.
	sse := openSSE(t, e, sseDial{token: e.token(user), lastID: "1"})
	defer sse.drain()
	ws := openWS(t, e, wsDial{token: e.token(user), after: "1"})
	defer ws.drain()
	sio := startSocketIO(t, e, socketiotest.Options{Token: e.token(user), Transports: []string{"websocket"},
		Auth: map[string]any{"pid": pid, "offset": "1"}})
	if o := sio.waitFor("connect", socketiotest.IsEv("connect")); o.Recovered {
		t.Fatalf("socket.io: %v, want not recovered: the missed events are gone", o)
	}
	for name, got := range map[string][]received{
		"sse":       sse.collect(t, 1+len(recent)),
		"websocket": ws.collect(t, 1+len(recent)),
		"socket.io": sio.events(1 + len(recent)),
	} {
		if got[0].Event != relay.ResyncEvent || got[0].ID != 3 {
			t.Errorf("%s: first message %v, want resync #3 (delivery continues after it)", name, got[0])
			continue
		}
		assertWire(t, got[1:], recent, 4)
	}

	// A resume id still in the retained feed is honoured as usual.
	within := openSSE(t, e, sseDial{token: e.token(user), lastID: "8"})
	defer within.drain()
	assertWire(t, within.collect(t, 2), recent[5:], 9)
}

// dialResuming connects a Go client of the given kind that resumes after last.
func dialResuming(e *env, kind, user string, last int64) (*conn, error) {
	if kind == "sse" {
		return dialSSE(e, sseDial{token: e.token(user), lastID: itoa(last)})
	}
	c, _, err := dialWS(e, wsDial{token: e.token(user), after: itoa(last)})
	return c, err
}

func TestResume_ClientsDroppedAtRandomMomentsEndWithEveryEventExactlyOnceInOrder(t *testing.T) {
	e := newEnv(t, envConfig{})
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	const (
		users           = 3
		writersPerUser  = 2
		scansPerWriter  = 4
		clientsPerKind  = 2
		messagesPerScan = 7
	)
	var ids []string
	for range users {
		ids = append(ids, domain.NewID())
	}
	// One PWA per user, its transport closed at random moments.
	pwas := map[string]*nodeClient{}
	for _, u := range ids {
		c := startSocketIO(t, e, socketiotest.Options{Token: e.token(u)})
		c.waitFor("connect", socketiotest.IsEv("connect"))
		pwas[u] = c
	}
	for _, c := range pwas {
		c.Command("chaos 150")
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var writers sync.WaitGroup
	for _, u := range ids {
		for range writersPerUser {
			writers.Go(func() {
				for range scansPerWriter {
					e.lifecycle(u)
				}
			})
		}
	}
	total := writersPerUser * scansPerWriter * messagesPerScan

	type result struct {
		who   string
		user  string
		got   []received
		trace []string
		err   error
	}
	kinds := []string{"sse", "websocket"}
	results := make(chan result, users*len(kinds)*clientsPerKind)
	var clients sync.WaitGroup
	for ui, u := range ids {
		for _, kind := range kinds {
			for ci := range clientsPerKind {
				rng := rand.New(rand.NewPCG(seed, uint64(ui*100+ci*10+len(kind))))
				who := fmt.Sprintf("%s client %d of user %d", kind, ci, ui)
				clients.Go(func() {
					got, trace, err := resumeUntil(ctx, e, kind, u, int64(total), rng)
					results <- result{who, u, got, trace, err}
				})
			}
		}
	}
	began := time.Now()
	writers.Wait()
	t.Logf("writers done after %v", time.Since(began))
	for _, u := range ids {
		e.waitFeed(u, total)
	}
	clients.Wait()
	t.Logf("clients done after %v", time.Since(began))
	close(results)
	for r := range results {
		if r.err != nil {
			t.Fatalf("%s: %v\n%s", r.who, r.err, strings.Join(r.trace, "\n"))
		}
		if !t.Run(r.who, func(t *testing.T) { assertFeed(t, r.who, r.got, e.feedOf(r.user, 0)) }) {
			t.Logf("%s's connections:\n%s", r.who, strings.Join(r.trace, "\n"))
		}
	}

	for ui, u := range ids {
		truth := e.feedOf(u, 0)
		if len(truth) != total {
			t.Fatalf("user %d: %d feed rows, want %d", ui, len(truth), total)
		}
		c := pwas[u]
		c.Command("calm")
		got, dups := c.pwaEvents(total)
		assertFeed(t, fmt.Sprintf("socket.io client of user %d", ui), got, truth)
		reconnects := -1 // the first connect is not one
		for _, o := range c.Seen() {
			if o.Ev != "connect" {
				continue
			}
			if reconnects++; reconnects > 0 && !o.Recovered {
				t.Errorf("socket.io client of user %d: reconnect %v not recovered", ui, o)
			}
		}
		t.Logf("socket.io client of user %d reconnected %d times; re-emitted %d events from its stale buffer", ui, reconnects, dups)
	}
}

// resumeUntil plays a client whose connection drops after a random number of messages
// or a random time, and which reconnects with the last id it saw, until it has seen
// id total. It returns everything it received.
func resumeUntil(ctx context.Context, e *env, kind, user string, total int64, rng *rand.Rand) (got []received, trace []string, err error) {
	last := int64(0)
	for drops := 0; last < total; drops++ {
		if ctx.Err() != nil {
			return got, trace, ctx.Err()
		}
		from, n, began := last, len(got), time.Now()
		c, err := dialResuming(e, kind, user, last)
		if err != nil {
			return got, trace, fmt.Errorf("connect after #%d: %w", last, err)
		}
		// The connection drops after a few messages, or a moment after its first one,
		// or when nothing came for a while (at the live end between scans).
		budget := 1 + rng.IntN(10)
		idle := time.NewTimer(500 * time.Millisecond)
		var soon <-chan time.Time
	read:
		for budget > 0 {
			select {
			case m, ok := <-c.msgs:
				if !ok {
					break read
				}
				got = append(got, m)
				last = m.ID
				budget--
				if soon == nil {
					soon = time.After(time.Duration(rng.IntN(40)) * time.Millisecond)
				}
			case <-soon:
				break read
			case <-idle.C:
				break read
			}
		}
		idle.Stop()
		// What the connection had delivered before it dropped was seen too.
		for _, m := range c.drain() {
			got = append(got, m)
			last = m.ID
		}
		trace = append(trace, fmt.Sprintf("after #%d: %v in %v", from, got[n:], time.Since(began)))
		if drops > 10_000 {
			return got, trace, fmt.Errorf("no progress after %d reconnects", drops)
		}
	}
	return got, trace, nil
}

// liveSessions is the accounts store's answer to "is this login session alive?".
type liveSessions struct {
	mu    sync.Mutex
	alive map[string]bool // user + "/" + session
}

func (s *liveSessions) set(user, session string, alive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alive[user+"/"+session] = alive
}

func (s *liveSessions) SessionActive(_ context.Context, user, session string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alive[user+"/"+session], nil
}

// The PWA's socket.io-client keeps the token it was created with. When its access token
// has expired by the time it reconnects (a deploy, a crash, a network blip), the
// reconnect is honoured while the login session is alive, and the client gets exactly
// the events it missed; once the session is revoked, the same reconnect is refused. A
// first connection with an expired token is refused as always.
func TestSocketIO_ReconnectWithAnExpiredTokenOfALiveSessionIsRecovered(t *testing.T) {
	sessions := &liveSessions{alive: map[string]bool{}}
	e := newEnv(t, envConfig{sessions: sessions})
	user, session := domain.NewID(), domain.NewID()
	sessions.set(user, session, true)
	tok, _, err := e.issuer.IssueInSession(auth.Access, user, auth.RoleUser, session)
	if err != nil {
		t.Fatal(err)
	}
	c := startSocketIO(t, e, socketiotest.Options{Token: tok})
	c.waitFor("connect", socketiotest.IsEv("connect"))
	first := e.lifecycle(user)
	assertWire(t, c.events(len(first)), first, 1)

	c.Command("offline")
	c.waitFor("disconnect", socketiotest.IsEv("disconnect"))
	e.skew.Store(int64(time.Hour)) // the access token expired meanwhile
	missed := e.failing(user)
	e.waitFeed(user, len(first)+len(missed))
	c.Command("online")
	if o := c.waitFor("reconnect", func(o observation) bool { return o.Ev == "connect" || o.Ev == "connect_error" }); !o.Recovered {
		t.Fatalf("reconnect with an expired token of a live session: %v, want recovered", o)
	}
	assertWire(t, c.events(len(missed)), missed, int64(len(first))+1)

	// The same token on a first connection (no pid) proves only who the user was.
	fresh := startSocketIO(t, e, socketiotest.Options{Token: tok})
	if o := fresh.waitFor("connect_error", func(o observation) bool { return o.Ev == "connect_error" || o.Ev == "connect" }); o.Ev != "connect_error" || o.Message != "Token expired" {
		t.Fatalf("first connection with an expired token: %v, want connect_error Token expired", o)
	}

	// Revoked: the next reconnect is refused.
	sessions.set(user, session, false)
	c.Command("offline")
	c.waitFor("disconnect", socketiotest.IsEv("disconnect"))
	c.Command("online")
	if o := c.waitFor("refusal", func(o observation) bool { return o.Ev == "connect_error" || o.Ev == "connect" }); o.Ev != "connect_error" || o.Message != "Token expired" {
		t.Fatalf("reconnect of a revoked session: %v, want connect_error Token expired", o)
	}

	// Past the refresh lifetime the token is refused whatever the session says.
	sessions.set(user, session, true)
	e.skew.Store(int64(8 * 24 * time.Hour))
	c.Command("online")
	if o := c.waitFor("refusal", func(o observation) bool { return o.Ev == "connect_error" || o.Ev == "connect" }); o.Ev != "connect_error" {
		t.Fatalf("reconnect past the refresh lifetime: %v, want connect_error", o)
	}
}
