package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// Events written before personal fields were sealed keep them in clear: the operator
// can list exactly those, and the ledger still verifies with them.
func TestAuditPlaintextListsTheOldEventsThatHoldPersonalDataInClear(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openDataDir(t, dir)
	// As an older scanledger wrote them: a version 1 Created with the address in
	// clear, and a role grant naming the user by email.
	old := domain.NewID()
	stream := scan.StreamName(old)
	body := []byte(`{"scanId":"` + old + `","userId":"u1","houseId":"` + domain.NewID() + `","newHouse":true,"address":"9 Old Road"}`)
	d, _, err := event.Chained(stream, 0, stream, domain.NewEventID(), scan.TypeCreated, 1, body,
		event.Metadata{OccurredAt: time.Now(), UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(ctx, stream, event.NoStream, []event.Data{d}); err != nil {
		t.Fatal(err)
	}
	d, _, err = event.Chained(audit.TrailStream, 0, audit.TrailStream, domain.NewEventID(), audit.TypeAccessRecorded, 1,
		[]byte(`{"actorRole":"operator","action":"role.grant","subject":"user:ada@example.com","detail":"ada@example.com granted role admin"}`),
		event.Metadata{OccurredAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(ctx, audit.TrailStream, event.NoStream, []event.Data{d}); err != nil {
		t.Fatal(err)
	}
	e.close()
	sealed := seedScans(t, dir, 1) // written now: sealed

	out, err := runCmd(t, "audit", "plaintext", "--data-dir", dir)
	if err != nil {
		t.Fatalf("audit plaintext: %v\n%s", err, out)
	}
	if !strings.Contains(out, stream+"\tversion 0\tCreated v1\taddress") ||
		!strings.Contains(out, audit.TrailStream+"\tversion 0\tAccessRecorded v1\temail") ||
		strings.Contains(out, sealed[0]) || !strings.Contains(out, "2 events hold personal data in clear") {
		t.Fatalf("audit plaintext:\n%s", out)
	}
	if out, err := runCmd(t, "history", "--scan", old, "--version", "0", "--data-dir", dir); err != nil || !strings.Contains(out, `address "9 Old Road"`) {
		t.Fatalf("an old event no longer reads: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "audit", "seal", "--data-dir", dir); err != nil {
		t.Fatalf("audit seal: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "verify", "--all", "--data-dir", dir); err != nil || !strings.Contains(out, " 0 broken") {
		t.Fatalf("verify --all: %v\n%s", err, out)
	}
}
