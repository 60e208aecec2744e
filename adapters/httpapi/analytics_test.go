package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/projections"
	"github.com/scanledger/scanledger/projections/analytics"
	"github.com/scanledger/scanledger/projections/scans"
)

// appendAt appends one scan event that occurred at at.
func appendAt(t *testing.T, store event.Store, scanID string, expected int64, at time.Time, evs ...scan.Event) int64 {
	t.Helper()
	var data []event.Data
	for _, ev := range evs {
		b, err := scan.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		id := domain.NewID()
		md, _ := json.Marshal(event.Metadata{EventID: id, OccurredAt: at, SchemaVersion: scan.SchemaVersion(ev.EventType())})
		data = append(data, event.Data{ID: id, Type: ev.EventType(), SchemaVersion: scan.SchemaVersion(ev.EventType()), Data: b, Metadata: md})
	}
	res, err := store.Append(context.Background(), scan.StreamName(scanID), expected, data)
	if err != nil {
		t.Fatal(err)
	}
	return res.Version
}

// writeAnalyticsScans writes three scans on day:
//   - scan 1 (apartment): attempt 1 succeeds after 10 s; water_damage true, mold false;
//     one "house type" run on gpt-4o-mini costing 0.0008;
//   - scan 2 (house): attempt 1 fails after 4 s with agents_http_500 and is retried;
//     attempt 2 succeeds after 20 s; water_damage false, mold not assessed; one
//     "house type" run costing 0.0012;
//   - scan 3 (apartment): attempt 1 fails for good after 6 s with analysis_timeout.
func writeAnalyticsScans(t *testing.T, store event.Store, day time.Time) {
	apartment := "apartment"
	meta := `"checklist_metadata":{"house":{"water_damage":{"type":"boolean"},"mold":{"type":"boolean"}}}`
	scanOf := func(at time.Time) (string, int64) {
		id := domain.NewID()
		v := appendAt(t, store, id, event.NoStream, at, scan.Created{ScanID: id, UserID: domain.NewID(), HouseID: domain.NewID(), NewHouse: true})
		return id, appendAt(t, store, id, v, at, scan.ImagesUploaded{Rooms: []scan.Room{{RoomID: domain.NewID(), Label: "Room 1",
			Images: []scan.Image{{ImageID: domain.NewID(), BlobKey: "scans/x/y", ContentType: "image/jpeg", Bytes: 1, SHA256: "00"}}}}})
	}
	started := func(attempt int, houseType *string) scan.ProcessingStarted {
		return scan.ProcessingStarted{Attempt: attempt, InputsSnapshot: scan.InputsSnapshot{HouseType: houseType, RoomsCount: 1, ImagesCount: 1}}
	}
	completed := func(attempt int, houseType, booleans, notAssessed, usd string) scan.Completed {
		return scan.Completed{Attempt: attempt, HouseTypes: []string{houseType},
			ClientSummary: json.RawMessage(`{` + meta + `}`),
			Result:        json.RawMessage(`{"house_types":["` + houseType + `"],"house_checklist":{"booleans":` + booleans + `},"not_assessed":` + notAssessed + `}`),
			AgentRuns:     []scan.AgentRun{{ID: domain.NewID(), AgentName: "house type", Model: "gpt-4o-mini", TokensIn: 100, TokensOut: 10, CostUSD: usd}}}
	}

	at := day.Add(9 * time.Hour)
	id, v := scanOf(at)
	v = appendAt(t, store, id, v, at, started(1, &apartment))
	appendAt(t, store, id, v, at.Add(10*time.Second), completed(1, "apartment", `{"water_damage":true,"mold":false}`, `[]`, "0.0008"))

	at = day.Add(10 * time.Hour)
	id, v = scanOf(at)
	v = appendAt(t, store, id, v, at, started(1, nil))
	v = appendAt(t, store, id, v, at.Add(4*time.Second),
		scan.Failed{Attempt: 1, Code: "agents_http_500", Reason: "Internal server error", Retryable: true, WillRetry: true},
		scan.ProcessingStarted{Attempt: 2, Retry: 1})
	appendAt(t, store, id, v, at.Add(24*time.Second), completed(2, "house", `{"water_damage":false}`, `["house:mold"]`, "0.0012"))

	at = day.Add(11 * time.Hour)
	id, v = scanOf(at)
	v = appendAt(t, store, id, v, at, started(1, &apartment))
	appendAt(t, store, id, v, at.Add(6*time.Second), scan.Failed{Attempt: 1, Code: "analysis_timeout", Reason: "no answer"})
}

func TestAnalyticsRoutes_AnswerAnalystsTheSameOnSQLiteAndPostgres(t *testing.T) {
	for name, engine := range map[string]func(testing.TB) engine{"sqlite": sqliteEngine, "postgres": postgresEngine} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e := engine(t)
			issuer := testIssuer()
			acc := newAccounts(e.write, e.read, issuer)
			day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			writeAnalyticsScans(t, e.store, day)
			for _, p := range []projections.Projection{scans.NewProjector(), analytics.NewProjector()} {
				r := projections.NewRunner(e.store, e.write, p)
				done := make(chan struct{})
				go func() { defer close(done); _ = r.Run(ctx) }()
				t.Cleanup(func() { cancel(); <-done })
				deadline := time.Now().Add(30 * time.Second)
				for st := r.Stats(); st.Applied+st.Parked < 14; st = r.Stats() {
					if time.Now().After(deadline) {
						t.Fatalf("%s did not catch up: %+v", r.Name(), r.Stats())
					}
					time.Sleep(5 * time.Millisecond)
				}
				if st := r.Stats(); st.Parked != 0 {
					t.Fatalf("%s parked events: %+v", r.Name(), st)
				}
			}
			ts := httptest.NewServer(httpapi.New(httpapi.Config{Tokens: issuer, Accounts: acc, Analytics: analytics.Reader{DB: e.read}}).Handler())
			defer ts.Close()

			tokenOf := func(email, role string) string {
				s, err := acc.Signup(ctx, account.NewUser{Email: email, Password: "correct horse battery"})
				if err != nil {
					t.Fatal(err)
				}
				if err := acc.SetRole(ctx, email, role); err != nil {
					t.Fatal(err)
				}
				tok, _, err := issuer.Issue(auth.Access, s.User.ID, role)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			analyst := tokenOf("ana@example.com", auth.RoleAnalyst)
			get := func(path, bearer string) (int, string, []byte) {
				req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1"+path, nil)
				req.Header.Set("Authorization", "Bearer "+bearer)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode, resp.Header.Get("Content-Type"), b
			}
			want := func(path string, v any, expected any) {
				t.Helper()
				status, _, body := get(path, analyst)
				if status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, status, body)
				}
				var env struct{ Data json.RawMessage }
				if err := json.Unmarshal(body, &env); err != nil {
					t.Fatalf("GET %s: %s", path, body)
				}
				if err := json.Unmarshal(env.Data, v); err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				if got := reflect.ValueOf(v).Elem().Interface(); !reflect.DeepEqual(got, expected) {
					t.Errorf("GET %s:\n got %+v\nwant %+v", path, got, expected)
				}
			}

			want("/analytics/outcomes", &[]analytics.Outcome{}, []analytics.Outcome{
				{Status: "failed", Scans: 1, Attempts: 1}, {Status: "succeeded", Scans: 2, Attempts: 3}})
			want("/analytics/outcomes?houseType=apartment&from=2026-03-02T10:30:00Z", &[]analytics.Outcome{}, []analytics.Outcome{
				{Status: "failed", Scans: 1, Attempts: 1}})
			want("/analytics/costs", &[]analytics.Cost{}, []analytics.Cost{
				{AgentName: "house type", Model: "gpt-4o-mini", Runs: 2, Scans: 2, TokensIn: 200, TokensOut: 20, CostUSD: "0.002"}})
			want("/analytics/costs?by=model&houseType=house", &[]analytics.Cost{}, []analytics.Cost{
				{Model: "gpt-4o-mini", Runs: 1, Scans: 1, TokensIn: 100, TokensOut: 10, CostUSD: "0.0012"}})
			want("/analytics/durations", &[]analytics.Duration{}, []analytics.Duration{
				{Status: "failed", Attempts: 2, Min: 4, P50: 5, P90: 5.8, P99: 5.98, Max: 6, Mean: 5},
				{Status: "succeeded", Attempts: 2, Min: 10, P50: 15, P90: 19, P99: 19.9, Max: 20, Mean: 15}})
			want("/analytics/failures?to=2026-03-02T10:59:59Z", &[]analytics.Failure{}, []analytics.Failure{
				{Code: "agents_http_500", Attempts: 1, Retried: 1, Final: 0, Scans: 1, Example: "Internal server error"}})
			want("/analytics/failures", &[]analytics.Failure{}, []analytics.Failure{
				{Code: "agents_http_500", Attempts: 1, Retried: 1, Final: 0, Scans: 1, Example: "Internal server error"},
				{Code: "analysis_timeout", Attempts: 1, Retried: 0, Final: 1, Scans: 1, Example: "no answer"}})
			want("/analytics/checklist-items", &[]analytics.ItemRate{}, []analytics.ItemRate{
				{Scope: "house", ItemID: "mold", ItemType: "boolean", Evaluations: 2, Pass: 1, NotAssessed: 1, PassRate: 0.5, NotAssessedRate: 0.5},
				{Scope: "house", ItemID: "water_damage", ItemType: "boolean", Evaluations: 2, Pass: 1, Fail: 1, PassRate: 0.5, FailRate: 0.5}})
			want("/analytics/checklist-items?houseType=house&from=2026-03-02&to=2026-03-03", &[]analytics.ItemRate{}, []analytics.ItemRate{
				{Scope: "house", ItemID: "mold", ItemType: "boolean", Evaluations: 1, NotAssessed: 1, NotAssessedRate: 1},
				{Scope: "house", ItemID: "water_damage", ItemType: "boolean", Evaluations: 1, Pass: 1, PassRate: 1}})

			status, ctype, body := get("/analytics/durations?format=csv", analyst)
			wantCSV := "status,attempts,minSeconds,p50Seconds,p90Seconds,p99Seconds,maxSeconds,meanSeconds\n" +
				"failed,2,4,5,5.8,5.98,6,5\nsucceeded,2,10,15,19,19.9,20,15\n"
			if status != http.StatusOK || !strings.HasPrefix(ctype, "text/csv") || string(body) != wantCSV {
				t.Errorf("durations as CSV: %d %s\n%s\nwant\n%s", status, ctype, body, wantCSV)
			}

			for _, bad := range []string{"/analytics/outcomes?from=yesterday", "/analytics/costs?by=user",
				"/analytics/failures?format=xml", "/analytics/durations?from=2026-03-03&to=2026-03-02"} {
				if status, _, body := get(bad, analyst); status != http.StatusBadRequest {
					t.Errorf("GET %s: %d, want 400: %s", bad, status, body)
				}
			}
			for _, role := range []string{auth.RoleUser, auth.RoleAdmin, auth.RoleAuditor} {
				tok := tokenOf(role+"@example.com", role)
				for _, path := range []string{"/analytics/outcomes", "/analytics/costs", "/analytics/durations",
					"/analytics/failures", "/analytics/checklist-items?format=csv"} {
					if status, _, body := get(path, tok); status != http.StatusForbidden {
						t.Errorf("%s GET %s: %d, want 403: %s", role, path, status, body)
					}
				}
			}
			// The stored role decides: an analyst demoted after the token was issued is refused.
			if err := acc.SetRole(ctx, "ana@example.com", auth.RoleUser); err != nil {
				t.Fatal(err)
			}
			if status, _, _ := get("/analytics/outcomes", analyst); status != http.StatusForbidden {
				t.Errorf("demoted analyst: %d, want 403", status)
			}
		})
	}
}
