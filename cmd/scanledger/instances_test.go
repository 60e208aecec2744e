package main_test

import (
	"context"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/domain"
)

// Two instances share one PostgreSQL and one bucket. A browser connected to instance B
// receives the events produced by the worker and projections of instance A.
func TestLiveClientOnOneInstanceHearsWorkOfAnother(t *testing.T) {
	// Both instances accept the same tokens (one configured secret); only A works.
	env := append(postgresS3Env(t), "SCANLEDGER_JWT_SECRET=shared-secret-for-both-instances")
	startServer(t, t.TempDir(), append(env, "SCANLEDGER_ROLES=http,worker,projector")...)
	b := startServer(t, t.TempDir(), append(env, "SCANLEDGER_ROLES=http")...)

	tok := b.token(domain.NewID(), "user")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := b.follow(ctx, tok, "", "")

	_, path := b.submitScan(tok, `{}`, photos(t), nil)
	got := until(t, live, "scan:completed", 120*time.Second)
	if got[0].Event != "scan:uploaded" {
		t.Fatalf("B's client missed events: %+v", got)
	}
	var s struct{ Status string }
	b.do("GET", path, tok, "", nil).data(t, &s)
	if s.Status != "succeeded" {
		t.Fatalf("status on B: %s", s.Status)
	}
}

// Killing one of two full instances mid-run loses nothing: the other takes over the
// projections (advisory locks) and the jobs (leases), every scan ends succeeded or
// failed, and no projection applies an event twice (the feed has exactly one row per
// feed-worthy event).
func TestKillingOneOfTwoInstancesLosesNothing(t *testing.T) {
	agents := agentstest.NewServer(t, agentstest.Delay(1500*time.Millisecond, agentstest.Succeed()))
	env := append(postgresS3Env(t), "SCANLEDGER_ANALYZER="+agents.URL, "SCANLEDGER_WORKER_LEASE=2s",
		"SCANLEDGER_JWT_SECRET=shared-secret-for-both-instances", "SCANLEDGER_WORKERS=2")
	a := startServer(t, t.TempDir(), env...)
	b := startServer(t, t.TempDir(), env...)
	tok := b.token(domain.NewID(), "user")

	const n = 6
	var ids []string
	for i := 0; i < n; i++ {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		id, _ := srv.submitScan(tok, `{}`, photos(t)[1:], nil)
		ids = append(ids, id)
	}
	// Kill A while analyses are in flight.
	for deadline := time.Now().Add(60 * time.Second); agents.Calls() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no analysis started")
		}
	}
	a.kill()

	// Every scan ends, served by B alone.
	deadline := time.Now().Add(3 * time.Minute)
	for _, id := range ids {
		for {
			var s struct{ Status string }
			b.do("GET", "/api/v1/scans/"+id, tok, "", nil).data(t, &s)
			if s.Status == "succeeded" || s.Status == "failed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scan %s stuck %q after the other instance died\n%s", id, s.Status, b.logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// The feed holds exactly one message per feed-worthy event of the history.
	want := 0
	for _, id := range ids {
		var history []struct {
			Type string
			Data struct{ WillRetry bool }
		}
		b.do("GET", "/api/v1/scans/"+id+"/events", tok, "", nil).data(t, &history)
		for _, h := range history {
			switch h.Type {
			case "ImagesUploaded", "ProcessingStarted", "ProgressReported", "Completed":
				want++
			case "Failed":
				if !h.Data.WillRetry {
					want++
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replay := b.follow(ctx, tok, "0", "")
	var got []liveEvent
	timeout := time.After(30 * time.Second)
	for len(got) < want {
		select {
		case ev := <-replay:
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("feed has %d messages, history says %d", len(got), want)
		}
	}
	select {
	case ev := <-replay:
		t.Fatalf("feed has more messages than events: extra %+v", ev)
	case <-time.After(2 * time.Second):
	}
	for i, ev := range got {
		if ev.ID != int64(i+1) {
			t.Fatalf("feed ids not 1..n: %+v", got)
		}
	}
}
