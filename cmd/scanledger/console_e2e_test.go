package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/scanledger/scanledger/adapters/agents/agentstest"
)

// noCostAnswer is an agents-service answer that reports tokens but no cost, as a
// pipeline without pricing data would.
const noCostAnswer = `{"result":{"house_types":[],"house_checklist":{"booleans":{},"categoricals":{},"conditionals":{}},"rooms":[],
"summary":{"house":[],"rooms":[],"products":[],"custom":[]},"pros_cons":{"pros":[],"cons":[]}},
"client_summary":{"house":{"booleans_true":[],"categoricals":{}},"rooms":{},"products":{},"pros_cons":{"pros":[],"cons":[]},
"checklist_metadata":{"house":{},"rooms":{},"products":{}}},
"cost_info":{"tokens":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500},
"requests":{"total_requests":2,"avg_tokens_per_request":750},"models":{"gpt-4o-mini":1500},"agents":{"house type":250,"pros/cons analysis":1250},
"agents_detailed":{"house type":{"prompt_tokens":200,"completion_tokens":50,"total_tokens":250,"requests":1},
"pros/cons analysis":{"prompt_tokens":1000,"completion_tokens":250,"total_tokens":1250,"requests":1}},
"costs":{"total_estimated_usd":0,"by_model":{},"pricing_note":""},"session":{"duration_seconds":1,"start_time":"2026-01-01T00:00:00","tokens_per_second":1500}},
"agent_executions":[],"metadata":{"request_id":"r","execution_time_seconds":1,"timestamp":"2026-01-01T00:00:00","total_images":2,
"rooms_processed":0,"pipeline_version":"2.0.0","total_agent_executions":0}}`

// TestTheWorkerPricesRunsFromTheRegistryAndTheConsoleShowsThem runs the binary with an
// analyzer that reports no cost: an admin made with `scanledger role` sets a price,
// a user's scan is processed by the real worker, and the runs, the summary and the
// console all show the cost at that price.
func TestTheWorkerPricesRunsFromTheRegistryAndTheConsoleShowsThem(t *testing.T) {
	agents := agentstest.NewServer(t, agentstest.Raw(http.StatusOK, "application/json", noCostAnswer))
	dir := t.TempDir()
	srv := startServer(t, dir, "SCANLEDGER_ANALYZER="+agents.URL)
	checkOpenAPI(t, srv)
	stamp := time.Now().UnixNano()
	signup := func(email string) string {
		var out struct{ AccessToken string }
		r := srv.json("POST", "/api/v1/auth/signup", "", fmt.Sprintf(`{"email":%q,"password":"secret1","firstName":"A","lastName":"B"}`, email))
		if r.Status != http.StatusCreated {
			t.Fatalf("signup %d %s", r.Status, r.Body)
		}
		r.data(t, &out)
		return out.AccessToken
	}
	adminEmail := fmt.Sprintf("admin.%d@example.com", stamp)
	admin := signup(adminEmail)
	ada := signup(fmt.Sprintf("ada.%d@example.com", stamp))
	if r := srv.json("GET", "/api/v1/admin/dashboard", admin, ""); r.Status != http.StatusForbidden {
		t.Fatalf("before the grant: %d %s", r.Status, r.Body)
	}
	role := exec.Command(binary, "role", "--data-dir", dir, "--email", adminEmail, "--role", "admin")
	role.Env = append(os.Environ(), srv.env...)
	if out, err := role.CombinedOutput(); err != nil {
		t.Fatalf("role: %v: %s", err, out)
	}
	if r := srv.json("POST", "/api/v1/models-info", admin, `{"provider":"openai","modelName":"gpt-4o-mini","pricing":{"inputPerMillion":0.15,"outputPerMillion":0.6},"effectiveFrom":"2020-01-01"}`); r.Status != http.StatusCreated {
		t.Fatalf("price %d %s", r.Status, r.Body)
	}

	var created struct{ ScanID string }
	r := srv.json("POST", "/api/v1/scans", ada, `{"address":"1 Test Street"}`)
	r.data(t, &created)
	if r := srv.upload("/api/v1/scans/"+created.ScanID+"/images", ada, photos(t), nil); r.Status != http.StatusCreated {
		t.Fatalf("upload %d %s", r.Status, r.Body)
	}
	if r := srv.json("POST", "/api/v1/scans/"+created.ScanID+"/process", ada, `{}`); r.Status != http.StatusCreated {
		t.Fatalf("process %d %s", r.Status, r.Body)
	}
	var sc struct {
		Status  string
		Summary *struct {
			CostSummary struct {
				Costs struct {
					TotalEstimatedUSD float64 `json:"total_estimated_usd"`
				}
			}
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for sc.Status != "succeeded" {
		if time.Now().After(deadline) || sc.Status == "failed" {
			t.Fatalf("scan status %q:\n%s", sc.Status, srv.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
		srv.json("GET", "/api/v1/scans/"+created.ScanID, ada, "").data(t, &sc)
	}
	if sc.Summary == nil || sc.Summary.CostSummary.Costs.TotalEstimatedUSD != 0.00036 {
		t.Fatalf("summary %+v", sc.Summary)
	}

	var runs []struct {
		AgentName string
		CostUSD   string `json:"costUsd"`
		ModelID   *string
	}
	srv.json("GET", "/api/v1/agents-runs?scanId="+created.ScanID, ada, "").data(t, &runs)
	costs := map[string]string{}
	for _, r := range runs {
		costs[r.AgentName] = r.CostUSD
	}
	if len(runs) != 2 || costs["house type"] != "0.00006" || costs["pros/cons analysis"] != "0.0003" || runs[0].ModelID == nil {
		t.Fatalf("runs %+v", runs)
	}
	var console []struct {
		CostUSD string `json:"costUsd"`
		Model   struct{ ModelName string }
		Scan    struct{ ID string }
	}
	r = srv.json("GET", "/api/v1/admin/agent-runs", admin, "")
	r.data(t, &console)
	if len(console) != 2 || console[0].Model.ModelName != "gpt-4o-mini" || console[0].Scan.ID != created.ScanID {
		t.Fatalf("console %s", r.Body)
	}
	// The access trail got the price change, with who.
	// It is read through the auditors' route, with a token that carries the new role.
	var login struct{ AccessToken string }
	srv.json("POST", "/api/v1/auth/login", "", fmt.Sprintf(`{"email":%q,"password":"secret1"}`, adminEmail)).data(t, &login)
	var entries []struct{ Action, ActorID, ActorRole string }
	srv.json("GET", "/api/v1/audit/access", login.AccessToken, "").data(t, &entries)
	found := false
	for _, e := range entries {
		found = found || e.Action == "model.price.set" && e.ActorID != "" && e.ActorRole == "admin"
	}
	if !found {
		t.Fatalf("no model.price.set entry in the access trail: %+v", entries)
	}
	var models []struct {
		Count struct{ AgentRuns int } `json:"_count"`
	}
	srv.json("GET", "/api/v1/admin/models", admin, "").data(t, &models)
	if len(models) != 1 || models[0].Count.AgentRuns != 2 {
		b, _ := json.Marshal(models)
		t.Fatalf("models %s", b)
	}
}
