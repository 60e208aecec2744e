package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/scan"
)

// auditTestKey signs the test harness's seals.
var auditTestKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// auditor signs up a user, makes them an auditor and returns their access token.
func (a *accountsAPI) auditor(email string) string {
	a.t.Helper()
	u := a.signup(email)
	if err := a.accounts.SetRole(context.Background(), email, auth.RoleAuditor); err != nil {
		a.t.Fatal(err)
	}
	tok, _, err := a.tokens.Issue(auth.Access, u.User.ID, auth.RoleAuditor)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// runScan takes a created scan through one attempt that fails and retries, then a
// second that completes, as the worker would.
func (a *accountsAPI) runScan(id string) {
	a.t.Helper()
	ctx := context.Background()
	meta := scan.Meta{CorrelationID: "job-" + id}
	steps := []func(s *scan.Scan) error{
		func(s *scan.Scan) error { return s.StartProcessing(s.UserID, scan.Checklists{}, nil) },
		func(s *scan.Scan) error { return s.ReportProgress(s.Attempt, 10, "Preparing request", nil) },
		func(s *scan.Scan) error { return s.Retry(s.Attempt, "worker_lost", "lease expired") },
		func(s *scan.Scan) error { return s.ReportProgress(s.Attempt, 50, "Analyzing images", nil) },
		func(s *scan.Scan) error {
			return s.Complete(scan.Completed{Attempt: s.Attempt, HouseTypes: []string{"detached"}, Result: json.RawMessage(`{"ok":true}`)})
		},
	}
	for i, step := range steps {
		time.Sleep(2 * time.Millisecond) // distinct occurredAt per event, for ?at=
		if _, err := a.scans.Execute(ctx, id, meta, step); err != nil {
			a.t.Fatalf("step %d: %v", i, err)
		}
	}
}

type stateReply struct {
	ScanID      string          `json:"scanId"`
	Version     int64           `json:"version"`
	At          string          `json:"at"`
	EventType   string          `json:"eventType"`
	Status      string          `json:"status"`
	Deleted     bool            `json:"deleted"`
	Attempt     int             `json:"attempt"`
	Progress    int             `json:"progress"`
	Rooms       []scan.Room     `json:"rooms"`
	ImagesCount int             `json:"imagesCount"`
	Result      json.RawMessage `json:"result"`
}

func TestTheStateAtEachVersionOfARealScanEqualsAReplayToThatVersion(t *testing.T) {
	a := newAccountsAPI(t)
	owner := a.signup("owner@example.com")
	id := a.createScan(owner.AccessToken)
	a.runScan(id)
	recs, err := a.scans.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 7 {
		t.Fatalf("%d events", len(recs))
	}
	auditorTok := a.auditor("auditor@example.com")
	for _, r := range recs {
		want, err := a.scans.LoadAt(context.Background(), id, r.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, bearer := range []string{owner.AccessToken, auditorTok} {
			var got stateReply
			a.json("GET", fmt.Sprintf("/scans/%s/state?version=%d", id, r.Version), bearer, "").want(t, http.StatusOK).data(t, &got)
			if got.Version != r.Version || got.EventType != r.Type || got.Status != string(want.Status) ||
				got.Attempt != want.Attempt || got.Progress != want.Progress || got.ImagesCount != want.ImagesCount() ||
				got.Deleted != want.Deleted || len(got.Rooms) != len(want.Rooms) {
				t.Fatalf("version %d: got %+v, replay gives %+v", r.Version, got, want)
			}
			if hasResult := string(got.Result) != "null"; hasResult != (r.Version == recs[len(recs)-1].Version) {
				t.Fatalf("version %d: result %s", r.Version, got.Result)
			}
			// The same moment, asked by time.
			var byTime stateReply
			a.json("GET", fmt.Sprintf("/scans/%s/state?at=%s", id, url.QueryEscape(got.At)), bearer, "").want(t, http.StatusOK).data(t, &byTime)
			if byTime.Version < r.Version || byTime.At != got.At {
				t.Fatalf("at %s: version %d, want at least %d", got.At, byTime.Version, r.Version)
			}
		}
	}
	// Before the scan existed; bad queries; someone else's scan.
	a.json("GET", "/scans/"+id+"/state?at=2001-01-01T00:00:00Z", owner.AccessToken, "").want(t, http.StatusNotFound)
	a.json("GET", "/scans/"+id+"/state?version=-1", owner.AccessToken, "").want(t, http.StatusBadRequest)
	a.json("GET", "/scans/"+id+"/state?at=yesterday", owner.AccessToken, "").want(t, http.StatusBadRequest)
	a.json("GET", "/scans/"+id+"/state?version=1&at=2001-01-01T00:00:00Z", owner.AccessToken, "").want(t, http.StatusBadRequest)
	other := a.signup("other@example.com")
	a.json("GET", "/scans/"+id+"/state?version=1", other.AccessToken, "").want(t, http.StatusNotFound)
}

type verifyReply struct {
	Valid  bool `json:"valid"`
	Report struct {
		Streams  int   `json:"streams"`
		Events   int64 `json:"events"`
		Problems []struct {
			Stream  string `json:"stream"`
			Version int64  `json:"version"`
			Reason  string `json:"reason"`
		} `json:"problems"`
		Seal *struct {
			Seq   int64  `json:"seq"`
			KeyID string `json:"keyId"`
		} `json:"seal"`
	} `json:"report"`
}

func TestAuditorsVerifyTheWholeLedgerAndSeeWhatWasTamperedWith(t *testing.T) {
	a := newAccountsAPI(t)
	owner := a.signup("owner@example.com")
	id := a.createScan(owner.AccessToken)
	a.createScan(owner.AccessToken)
	if _, _, err := a.sealer.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	auditorTok := a.auditor("auditor@example.com")
	a.json("GET", "/audit/verify", owner.AccessToken, "").want(t, http.StatusForbidden)

	var rep verifyReply
	a.json("GET", "/audit/verify", auditorTok, "").want(t, http.StatusOK).data(t, &rep)
	if !rep.Valid || rep.Report.Streams != 2 || rep.Report.Events != 4 || rep.Report.Seal == nil || len(rep.Report.Problems) != 0 {
		t.Fatalf("intact ledger: %+v", rep)
	}
	// Someone with the database file rewrites who created the scan.
	recs, _ := a.scans.History(context.Background(), id)
	forged := strings.Replace(string(recs[0].Metadata), owner.User.ID, "someone-else", 1)
	for _, q := range []string{`DROP TRIGGER events_no_update`} {
		if _, err := a.db.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.db.Write.Exec(`UPDATE events SET metadata = ? WHERE stream_id = ? AND version = 0`, []byte(forged), scan.StreamName(id)); err != nil {
		t.Fatal(err)
	}
	a.json("GET", "/audit/verify", auditorTok, "").want(t, http.StatusOK).data(t, &rep)
	if rep.Valid || len(rep.Report.Problems) == 0 || rep.Report.Problems[0].Stream != scan.StreamName(id) || rep.Report.Problems[0].Version != 0 {
		t.Fatalf("tampered ledger: %+v", rep)
	}
	a.json("GET", "/audit/verify?scanId="+id, auditorTok, "").want(t, http.StatusOK).data(t, &rep)
	if rep.Valid {
		t.Fatalf("tampered scan verified: %+v", rep)
	}
}

func TestScanEventsPageByVersionAndAnswerNDJSON(t *testing.T) {
	a := newAccountsAPI(t)
	owner := a.signup("owner@example.com")
	id := a.createScan(owner.AccessToken)
	a.runScan(id)
	var all, page []struct {
		Version int64  `json:"version"`
		Type    string `json:"type"`
	}
	a.json("GET", "/scans/"+id+"/events", owner.AccessToken, "").want(t, http.StatusOK).data(t, &all)
	a.json("GET", "/scans/"+id+"/events?fromVersion=2&limit=3", owner.AccessToken, "").want(t, http.StatusOK).data(t, &page)
	if len(page) != 3 || page[0].Version != 2 || page[2].Version != 4 {
		t.Fatalf("page %+v of %d events", page, len(all))
	}
	a.json("GET", "/scans/"+id+"/events?fromVersion=99", owner.AccessToken, "").want(t, http.StatusOK).data(t, &page)
	if len(page) != 0 {
		t.Fatalf("past the end: %+v", page)
	}
	a.json("GET", "/scans/"+id+"/events?limit=0", owner.AccessToken, "").want(t, http.StatusBadRequest)
	a.json("GET", "/scans/"+id+"/events?fromVersion=x", owner.AccessToken, "").want(t, http.StatusBadRequest)
	for _, r := range []acctReply{
		a.do("GET", "/scans/"+id+"/events?format=ndjson&fromVersion=1", owner.AccessToken, "", nil),
		a.do("GET", "/scans/"+id+"/events?fromVersion=1", owner.AccessToken, "", nil, "Accept", "application/x-ndjson"),
	} {
		r.want(t, http.StatusOK)
		lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
		if r.header.Get("Content-Type") != "application/x-ndjson" || len(lines) != len(all)-1 {
			t.Fatalf("ndjson %q: %d lines, want %d", r.header.Get("Content-Type"), len(lines), len(all)-1)
		}
		var first struct{ Version int64 }
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Version != 1 {
			t.Fatalf("first line %s", lines[0])
		}
	}
}

func TestAuditorsExportScansThatVerifyWithoutTheService(t *testing.T) {
	a := newAccountsAPI(t)
	alice, bob := a.signup("alice@example.com"), a.signup("bob@example.com")
	aliceScan, bobScan := a.createScan(alice.AccessToken), a.createScan(bob.AccessToken)
	auditorTok := a.auditor("auditor@example.com")
	a.json("GET", "/audit/export", alice.AccessToken, "").want(t, http.StatusForbidden)
	r := a.do("GET", "/audit/export?userId="+bob.User.ID+"&from=2000-01-01T00:00:00Z", auditorTok, "", nil).want(t, http.StatusOK)
	body := string(r.body)
	if !strings.Contains(body, bobScan) || strings.Contains(body, aliceScan) {
		t.Fatalf("export by user:\n%s", body)
	}
	rep, err := audit.VerifyFile(strings.NewReader(body), auditTestKey.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() || rep.Streams != 1 || rep.Events != 2 {
		t.Fatalf("verify export: %v %+v", err, rep)
	}
	// The address is in the export only sealed; changing its ciphertext is a change
	// like any other.
	if strings.Contains(body, "1 Test Street") {
		t.Fatal("the export holds the address in clear")
	}
	i := strings.Index(body, `"box":"`)
	if i < 0 {
		t.Fatalf("no sealed personal data in the export:\n%s", body)
	}
	i += len(`"box":"`)
	flip := map[byte]byte{'A': 'B'}[body[i]]
	if flip == 0 {
		flip = 'A'
	}
	forged := body[:i] + string(flip) + body[i+1:]
	if rep, err := audit.VerifyFile(strings.NewReader(forged), auditTestKey.Public().(ed25519.PublicKey)); err != nil || rep.OK() {
		t.Fatalf("a changed export verified: %v %+v", err, rep)
	}
	a.do("GET", "/audit/export?from=yesterday", auditorTok, "", nil).want(t, http.StatusBadRequest)
}

func TestAuditorsReadEverythingChangeNothingAndLeaveATrail(t *testing.T) {
	a := newAccountsAPI(t)
	owner := a.signup("owner@example.com")
	id := a.createScan(owner.AccessToken)
	gone := a.createScan(owner.AccessToken)
	a.json("DELETE", "/scans/"+gone, owner.AccessToken, "").want(t, http.StatusOK)
	auditorTok := a.auditor("auditor@example.com")

	// Every write route is refused, whatever the body.
	for _, w := range []struct{ method, path string }{
		{"POST", "/scans"}, {"POST", "/scans/" + id + "/images"}, {"POST", "/scans/" + id + "/process"},
		{"DELETE", "/scans/" + id}, {"PATCH", "/users/me"}, {"PUT", "/checklists/base/house"},
		{"PUT", "/checklists/scope/house"}, {"PATCH", "/checklists/" + id},
	} {
		if r := a.json(w.method, w.path, auditorTok, `{}`); r.status != http.StatusForbidden {
			t.Errorf("auditor %s %s: %d, want 403", w.method, w.path, r.status)
		}
	}
	// Reads of someone else's scan are allowed and recorded.
	a.json("GET", "/scans/"+id, auditorTok, "").want(t, http.StatusOK)
	a.json("GET", "/scans/"+id+"/events", auditorTok, "").want(t, http.StatusOK)
	a.json("GET", "/scans/"+id+"/state?version=0", auditorTok, "").want(t, http.StatusOK)
	// The owner's own reads are not.
	a.json("GET", "/scans/"+id, owner.AccessToken, "").want(t, http.StatusOK)

	// The scan list includes the deleted scan and filters.
	var list []struct {
		ScanID  string `json:"scanId"`
		Deleted bool   `json:"deleted"`
		Status  string `json:"status"`
	}
	a.json("GET", "/audit/scans?userId="+owner.User.ID, auditorTok, "").want(t, http.StatusOK).data(t, &list)
	deleted := map[string]bool{}
	for _, s := range list {
		deleted[s.ScanID] = s.Deleted
	}
	if len(list) != 2 || deleted[id] || !deleted[gone] {
		t.Fatalf("audit scans: %+v", list)
	}
	a.json("GET", "/audit/scans?status=running", auditorTok, "").want(t, http.StatusOK).data(t, &list)
	if len(list) != 0 {
		t.Fatalf("status filter: %+v", list)
	}
	a.json("GET", "/audit/scans?from=2999-01-01T00:00:00Z", auditorTok, "").want(t, http.StatusOK).data(t, &list)
	if len(list) != 0 {
		t.Fatalf("from filter: %+v", list)
	}
	a.json("GET", "/audit/scans", owner.AccessToken, "").want(t, http.StatusForbidden)

	// A profile change is recorded too.
	a.json("PATCH", "/users/me", owner.AccessToken, `{"firstName":"Grace"}`).want(t, http.StatusOK)

	var trail []struct {
		ActorID, ActorRole, Action, Subject, OwnerID, Detail string
	}
	a.json("GET", "/audit/access?scanId="+id, auditorTok, "").want(t, http.StatusOK).data(t, &trail)
	if len(trail) != 3 {
		t.Fatalf("trail for the scan: %+v", trail)
	}
	for _, e := range trail {
		if e.Action != "scan.read" || e.ActorRole != auth.RoleAuditor || e.OwnerID != owner.User.ID || e.Subject != "scan:"+id {
			t.Fatalf("trail entry %+v", e)
		}
	}
	a.json("GET", "/audit/access?userId="+owner.User.ID, auditorTok, "").want(t, http.StatusOK).data(t, &trail)
	if len(trail) != 4 || trail[3].Action != "profile.change" || trail[3].Detail != "changed firstName" {
		t.Fatalf("trail for the user: %+v", trail)
	}
	a.json("GET", "/audit/access", owner.AccessToken, "").want(t, http.StatusForbidden)

	// The trail is chained and sealed like every stream.
	if _, _, err := a.sealer.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rep verifyReply
	a.json("GET", "/audit/verify", auditorTok, "").want(t, http.StatusOK).data(t, &rep)
	if !rep.Valid || rep.Report.Streams != 3 {
		t.Fatalf("verify with the trail: %+v", rep)
	}
}
