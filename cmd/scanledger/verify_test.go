package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/trail"
)

// seedScans opens the data dir's engines, creates n scans with photos and closes them.
func seedScans(t *testing.T, dataDir string, n int) []string {
	t.Helper()
	ctx := context.Background()
	e := openDataDir(t, dataDir)
	defer e.close()
	h := e.scans()
	var ids []string
	for range n {
		id := domain.NewID()
		meta := scan.Meta{UserID: "u1", CorrelationID: "req-" + id}
		if _, err := h.Execute(ctx, id, meta, func(s *scan.Scan) error { return s.Create("u1", domain.NewID(), true, "1 Main St") }); err != nil {
			t.Fatal(err)
		}
		rooms := []scan.Room{{RoomID: domain.NewID(), Label: "Room 1", Images: []scan.Image{{ImageID: domain.NewID(), BlobKey: "k", ContentType: "image/jpeg", Bytes: 3}}}}
		if _, err := h.Execute(ctx, id, meta, func(s *scan.Scan) error { return s.UploadImages(rooms, "") }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestVerifyAllSaysHowManyStreamsAndEventsAndWhenSealed(t *testing.T) {
	dir := t.TempDir()
	ids := seedScans(t, dir, 3)
	key, err := runCmd(t, "audit", "key", "--data-dir", dir)
	if err != nil || len(strings.Fields(key)[0]) != 64 {
		t.Fatalf("audit key: %v\n%s", err, key)
	}
	out, err := runCmd(t, "audit", "seal", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "seal 1: 3 streams, 6 events") {
		t.Fatalf("audit seal: %v\n%s", err, out)
	}
	out, err = runCmd(t, "verify", "--all", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "3 streams, 6 events, 0 broken, sealed at ") {
		t.Fatalf("verify --all: %v\n%s", err, out)
	}
	out, err = runCmd(t, "verify", "--scan", ids[1], "--data-dir", dir, "--public-key", strings.Fields(key)[0])
	if err != nil || !strings.Contains(out, "1 streams, 2 events, 0 broken, sealed at ") {
		t.Fatalf("verify --scan: %v\n%s", err, out)
	}
	// Sealed with another key: the data dir's key does not match the pinned one.
	other := strings.Repeat("ab", 32)
	if out, err := runCmd(t, "verify", "--data-dir", dir, "--public-key", other); err == nil || !strings.Contains(out, "BROKEN audit-seals") {
		t.Fatalf("verify with a foreign key: %v\n%s", err, out)
	}
}

func TestVerifyAllNamesTheStreamAndVersionSomeoneDeleted(t *testing.T) {
	dir := t.TempDir()
	ids := seedScans(t, dir, 2)
	if out, err := runCmd(t, "audit", "seal", "--data-dir", dir); err != nil {
		t.Fatalf("audit seal: %v\n%s", err, out)
	}
	e := openDataDir(t, dir)
	for _, q := range []string{`DROP TRIGGER events_no_delete`, `DELETE FROM events WHERE stream_id = '` + scan.StreamName(ids[0]) + `' AND version = 1`} {
		if _, err := e.sqlite.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	e.close()
	out, err := runCmd(t, "verify", "--data-dir", dir)
	if err == nil || !strings.Contains(out, "BROKEN "+scan.StreamName(ids[0])+" version 1: events 1..1 were deleted") || !strings.Contains(out, "1 broken") {
		t.Fatalf("verify after a delete: %v\n%s", err, out)
	}
}

func TestHistoryPrintsATimelineAndTheStateAtAVersion(t *testing.T) {
	dir := t.TempDir()
	ids := seedScans(t, dir, 1)
	out, err := runCmd(t, "history", "--scan", ids[0], "--data-dir", dir)
	if err != nil || !strings.Contains(out, "VERSION") || !strings.Contains(out, "Created") ||
		!strings.Contains(out, "1 photos in 1 rooms uploaded") || !strings.Contains(out, "u1") {
		t.Fatalf("history: %v\n%s", err, out)
	}
	out, err = runCmd(t, "history", "--scan", ids[0], "--version", "0", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "at version 0 (Created") || !strings.Contains(out, "status queued") || strings.Contains(out, "room ") {
		t.Fatalf("history --version 0: %v\n%s", err, out)
	}
	out, err = runCmd(t, "history", "--scan", ids[0], "--at", "2999-01-01T00:00:00Z", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "at version 1 (ImagesUploaded") || !strings.Contains(out, "1 photos") {
		t.Fatalf("history --at: %v\n%s", err, out)
	}
	if _, err := runCmd(t, "history", "--scan", ids[0], "--at", "2001-01-01T00:00:00Z", "--data-dir", dir); err == nil {
		t.Fatal("a time before the scan gave a state")
	}
}

func TestARoleGrantIsRecordedInTheAccessTrail(t *testing.T) {
	dir := t.TempDir()
	ada := signUpIn(t, dir, "ada@example.com")
	if out, err := runCmd(t, "role", "--data-dir", dir, "--email", "ada@example.com", "--role", "auditor"); err != nil {
		t.Fatalf("role: %v\n%s", err, out)
	}
	e := openDataDir(t, dir)
	defer e.close()
	entries, err := audit.NewTrail(e.store).Entries(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The user is named by id: an email would be personal data kept forever.
	if len(entries) != 1 || entries[0].Action != trail.GrantRole || entries[0].Subject != "user:"+ada.User.ID ||
		entries[0].OwnerID != ada.User.ID || entries[0].ActorRole != "operator" || !strings.Contains(entries[0].Detail, "auditor") ||
		strings.Contains(entries[0].Detail, "ada@") {
		t.Fatalf("trail: %+v", entries)
	}
}
