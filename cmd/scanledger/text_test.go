package main_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
	"github.com/scanledger/scanledger/domain"
)

// Every text field a client fills refuses control characters (NUL above all, which
// PostgreSQL cannot store) with a 400 on every engine, instead of a 500, or worse an
// acknowledged scan whose Created event the read model then cannot project.
func TestControlCharactersInTextFieldsAreRefusedOnEveryEngine(t *testing.T) {
	for _, m := range modes()[:2] { // embedded (SQLite) and postgres+s3
		t.Run(m.name, func(t *testing.T) {
			srv := startServer(t, t.TempDir(), m.env(t)...)
			var auth struct {
				AccessToken string `json:"accessToken"`
			}
			r := srv.json("POST", "/api/v1/auth/signup", "", `{"email":"text@example.com","password":"secret12","firstName":"Ada","lastName":"L"}`)
			if r.Status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.Status, r.Body)
			}
			r.data(t, &auth)
			tok := auth.AccessToken
			var scan struct{ ScanID string }
			srv.json("POST", "/api/v1/scans", tok, `{"address":"1 Good Road"}`).data(t, &scan)

			for _, bad := range []string{`x\u0000y`, `x\u0007y`, `x\u001by`} {
				for _, tc := range []struct {
					field, method, path, body string
				}{
					{"signup firstName", "POST", "/api/v1/auth/signup", `{"email":"n1@example.com","password":"secret12","firstName":"` + bad + `","lastName":"L"}`},
					{"signup lastName", "POST", "/api/v1/auth/signup", `{"email":"n2@example.com","password":"secret12","firstName":"F","lastName":"` + bad + `"}`},
					{"signup email", "POST", "/api/v1/auth/signup", `{"email":"a` + bad + `@example.com","password":"secret12","firstName":"F","lastName":"L"}`},
					{"login email", "POST", "/api/v1/auth/login", `{"email":"text` + bad + `@example.com","password":"secret12"}`},
					{"profile firstName", "PATCH", "/api/v1/users/me", `{"firstName":"` + bad + `"}`},
					{"profile lastName", "PATCH", "/api/v1/users/me", `{"lastName":"` + bad + `"}`},
					{"profile email", "PATCH", "/api/v1/users/me", `{"email":"b` + bad + `@example.com"}`},
					{"checklist name", "PUT", "/api/v1/checklists/scope/room", `{"name":"` + bad + `"}`},
					{"checklist item text", "PUT", "/api/v1/checklists/scope/room",
						`{"itemsRaw":{"description":"d","default":{"description":"d","items":[{"id":"i1","type":"boolean","text":"` + bad + `"}]}}}`},
					{"checklist key", "PUT", "/api/v1/checklists/scope/room", `{"itemsRaw":{"` + bad + `":1}}`},
					{"scan address", "POST", "/api/v1/scans", `{"address":"` + bad + `"}`},
				} {
					t.Run(tc.field, func(t *testing.T) {
						r := srv.json(tc.method, tc.path, tok, tc.body)
						if r.Status != http.StatusBadRequest {
							t.Fatalf("%s %s with %s: %d %s, want 400", tc.method, tc.path, bad, r.Status, r.Body)
						}
					})
				}
				t.Run("upload address", func(t *testing.T) {
					var addr string
					json.Unmarshal([]byte(`"`+bad+`"`), &addr)
					r := srv.upload("/api/v1/scans/"+scan.ScanID+"/images", tok, photos(t)[1:], map[string]string{"address": addr})
					if r.Status != http.StatusBadRequest {
						t.Fatalf("upload with address %q: %d %s, want 400", addr, r.Status, r.Body)
					}
				})
			}

			// Nothing was parked: a scan made afterwards still reaches the read model.
			var later struct{ ScanID string }
			srv.json("POST", "/api/v1/scans", tok, `{"address":"2 Good Road"}`).data(t, &later)
			deadline := time.Now().Add(20 * time.Second)
			for {
				r := srv.do("GET", "/api/v1/scans/"+later.ScanID, tok, "", nil)
				if r.Status == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the scan made after the refusals never reached the read model: %d %s", r.Status, r.Body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if strings.Contains(srv.logs.String(), "park") {
				t.Fatalf("a projection parked an event:\n%s", srv.logs.String())
			}
		})
	}
}

// The analyzer is another service, and its strings reach every read model too: a
// result with NUL in it, or an error message with NUL in it, ends the scan as failed
// on every engine (the result refused as a bad result, the message cleaned), and no
// projection parks an event.
func TestControlCharactersFromTheAnalyzerNeverParkAProjection(t *testing.T) {
	for _, m := range modes()[:2] { // embedded (SQLite) and postgres+s3
		t.Run(m.name, func(t *testing.T) {
			agents := agentstest.NewServer(t,
				agentstest.Raw(http.StatusOK, "application/json",
					`{"result":{"house_types":["villa\u0000"],"pros_cons":{"pros":["bright\u0000"],"cons":[]}},"client_summary":{}}`),
				agentstest.Detail(http.StatusBadRequest, "bad\u0000input"),
			)
			srv := startServer(t, t.TempDir(), append(m.env(t), "SCANLEDGER_ANALYZER="+agents.URL)...)
			tok := srv.token(domain.NewID(), "user")
			for _, want := range []string{"control characters", "bad\uFFFDinput"} {
				_, path := srv.submitScan(tok, `{}`, photos(t)[1:], nil)
				var got struct{ Status, Error string }
				waitFor(t, 60*time.Second, "the scan to fail in the read model", func() bool {
					r := srv.do("GET", path, tok, "", nil)
					if r.Status != http.StatusOK { // not in the read model yet
						return false
					}
					r.data(t, &got)
					return got.Status == "failed"
				})
				if !strings.Contains(got.Error, want) {
					t.Errorf("error %q, want it to contain %q", got.Error, want)
				}
			}
			if strings.Contains(srv.logs.String(), "park") {
				t.Fatalf("a projection parked an event:\n%s", srv.logs.String())
			}
		})
	}
}
