package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/trail"
)

// Console is the rest of the original REST surface (contract section 3, the rows
// without a star): the admin console, the model price registry and agent runs
// (adapters/accounts.Store). Every admin change it makes is recorded in the access
// trail by the store; Role is the role stored now, which every admin route checks.
type Console interface {
	Role(ctx context.Context, userID string) (string, error)
	Dashboard(ctx context.Context) (account.Dashboard, error)
	ConsoleHouses(ctx context.Context, p account.Page) ([]account.ConsoleHouse, string, error)
	ConsoleScans(ctx context.Context, p account.Page) ([]account.ConsoleScan, string, error)
	ConsoleAgentRuns(ctx context.Context, p account.Page) ([]account.AgentRun, string, error)
	ConsoleModels(ctx context.Context, p account.Page) ([]account.ModelInfo, string, error)
	ConsoleBaseChecklists(ctx context.Context, p account.Page) ([]account.Checklist, string, error)
	EditBaseChecklist(ctx context.Context, a account.Actor, id string, p account.ChecklistPatch) (account.Checklist, error)
	ToggleBaseChecklist(ctx context.Context, a account.Actor, id string, enable bool) (account.Checklist, error)
	ModelsInfo(ctx context.Context, provider, modelName *string) ([]account.ModelInfo, error)
	PutModelInfo(ctx context.Context, a account.Actor, in account.ModelInput) (account.ModelInfo, error)
	// ScanAgentRuns returns the scan's owner and its runs; ENOTFOUND for no such scan.
	ScanAgentRuns(ctx context.Context, scanID string, agentName *string) (string, []account.AgentRun, error)
}

// consoleRoutes registers /models-info, /agents-runs and /admin/*. Without a console
// there are none: the routes answer 404 rather than panic.
func (s *Server) consoleRoutes(authed *gin.RouterGroup) {
	if s.Console == nil {
		return
	}
	authed.GET("/models-info", s.listModelsInfo)
	authed.POST("/models-info", s.requireAdmin, s.postModelInfo)
	authed.GET("/agents-runs", s.listAgentRuns)
	admin := authed.Group("/admin", s.requireAdmin)
	admin.GET("/dashboard", s.adminDashboard)
	admin.GET("/houses", s.adminHouses)
	admin.GET("/scans", s.adminScans)
	admin.GET("/agent-runs", s.adminAgentRuns)
	admin.GET("/models", s.adminModels)
	admin.GET("/checklists/base", s.adminBaseChecklists)
	admin.PATCH("/checklists/:id", s.adminEditChecklist)
	admin.PATCH("/checklists/:id/toggle", s.adminToggleChecklist)
}

// requireAdmin lets a request through only when the caller's stored role is admin, read
// on every request: a demoted admin is refused at once, whatever their token says.
func (s *Server) requireAdmin(c *gin.Context) {
	role, err := s.Console.Role(c.Request.Context(), claims(c).UserID)
	if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
		s.writeError(c, err)
		return
	}
	if role != auth.RoleAdmin {
		s.writeError(c, domain.Errorf(domain.EFORBIDDEN, "Forbidden resource"))
		return
	}
	c.Next()
}

func actorOf(c *gin.Context) account.Actor {
	return account.Actor{ID: claims(c).UserID, RequestID: c.GetHeader("X-Request-Id")}
}

// recordRead writes a trail entry for a read of other users' data by the caller in
// role; without a trail nothing is recorded. An entry that cannot be written fails the
// read: an auditor must never read unrecorded.
func (s *Server) recordRead(c *gin.Context, role, action, subject, owner, detail string) error {
	if s.Trail == nil {
		return nil
	}
	a := actorOf(c)
	if err := s.Trail.Record(c.Request.Context(), trail.Entry{ActorID: a.ID, ActorRole: role, Action: action,
		Subject: subject, OwnerID: owner, RequestID: a.RequestID, Detail: detail}); err != nil {
		return fmt.Errorf("record %s in the access trail: %w", action, err)
	}
	return nil
}

// onlyQuery refuses query parameters other than allowed, as the original's
// whitelisting validation pipe did.
func onlyQuery(c *gin.Context, allowed ...string) error {
	return unknownProperties(maps.Keys(c.Request.URL.Query()), func(k string) bool { return slices.Contains(allowed, k) })
}

// page reads ?limit=&cursor= (and refuses any other parameter).
func page(c *gin.Context) (account.Page, error) {
	if err := onlyQuery(c, "limit", "cursor"); err != nil {
		return account.Page{}, err
	}
	var p account.Page
	if v, found := c.GetQuery("limit"); found {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			return p, domain.Errorf(domain.EINVALID, "limit must be a positive integer")
		case n > account.MaxPageLimit:
			return p, domain.Errorf(domain.EINVALID, "limit must not be greater than %d", account.MaxPageLimit)
		}
		p.Limit = n
	}
	p.Cursor = c.Query("cursor")
	return p, nil
}

// okPage answers a page: the rows as the data array (the original's shape) and, when
// there are more, the cursor of the next page in X-Next-Cursor.
func okPage(c *gin.Context, rows any, next string) {
	c.Header("Access-Control-Expose-Headers", "X-Next-Cursor")
	if next != "" {
		c.Header("X-Next-Cursor", next)
	}
	ok(c, http.StatusOK, rows)
}

// listPage runs one console list: parse the page, read it, optionally record the read
// of users' data in the trail, and answer.
func listPage[T any](s *Server, c *gin.Context, read func(context.Context, account.Page) ([]T, string, error),
	recordAs string, present func(T) any) {
	p, err := page(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rows, next, err := read(c.Request.Context(), p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if recordAs != "" {
		if err := s.recordRead(c, auth.RoleAdmin, trail.ReadUser, "console:"+recordAs, "",
			fmt.Sprintf("admin console: %d %s", len(rows), recordAs)); err != nil {
			s.writeError(c, err)
			return
		}
	}
	okPage(c, presentAll(rows, present), next)
}

// The JSON shapes below are the original's (contract sections 3 and 4: Prisma rows
// with their included relations and _count), field for field and in that order; our
// additions come after them.

type ownerJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

func ownerOf(o account.Owner) *ownerJSON {
	if o.ID == nil || o.Email == nil {
		return nil
	}
	return &ownerJSON{ID: *o.ID, Email: *o.Email}
}

type dashboardJSON struct {
	Users          int `json:"users"`
	Houses         int `json:"houses"`
	Scans          int `json:"scans"`
	BaseChecklists int `json:"baseChecklists"`
}

func (s *Server) adminDashboard(c *gin.Context) {
	if err := onlyQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	d, err := s.Console.Dashboard(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, dashboardJSON{Users: d.Users, Houses: d.Houses, Scans: d.Scans, BaseChecklists: d.BaseChecklists})
}

type adminHouseJSON struct {
	ID        string     `json:"id"`
	UserID    string     `json:"userId"`
	Address   *string    `json:"address"`
	HouseType *string    `json:"houseType"`
	Status    string     `json:"status"`
	CreatedAt string     `json:"createdAt"`
	UpdatedAt string     `json:"updatedAt"`
	User      *ownerJSON `json:"user"`
	Count     struct {
		Scans int `json:"scans"`
	} `json:"_count"`
}

func (s *Server) adminHouses(c *gin.Context) {
	listPage(s, c, s.Console.ConsoleHouses, "houses", func(h account.ConsoleHouse) any {
		out := adminHouseJSON{ID: h.ID, UserID: h.UserID, Address: h.Address, HouseType: h.HouseType, Status: h.Status,
			CreatedAt: isoTime(h.CreatedAt), UpdatedAt: isoTime(h.UpdatedAt), User: ownerOf(h.Owner)}
		out.Count.Scans = h.Scans
		return out
	})
}

type adminScanJSON struct {
	scanRowJSON
	House struct {
		ID      string     `json:"id"`
		Address *string    `json:"address"`
		User    *ownerJSON `json:"user"`
	} `json:"house"`
	Count struct {
		Rooms     int `json:"rooms"`
		Images    int `json:"images"`
		AgentRuns int `json:"agentRuns"`
	} `json:"_count"`
	// Ours.
	UserID      string  `json:"userId"`
	Attempt     int     `json:"attempt"`
	FailureCode *string `json:"failureCode"`
}

func (s *Server) adminScans(c *gin.Context) {
	listPage(s, c, s.Console.ConsoleScans, "scans", func(sc account.ConsoleScan) any {
		out := adminScanJSON{scanRowJSON: scanRowJSON{ID: sc.ID, HouseID: sc.HouseID, Status: sc.Status,
			InputsSnapshot: rawOrNull(sc.InputsSnapshot), DetectedHouseTypes: sc.DetectedHouseTypes,
			StartedAt: isoTimePtr(sc.StartedAt), FinishedAt: isoTimePtr(sc.FinishedAt), CreatedAt: isoTime(sc.CreatedAt)},
			UserID: sc.UserID, Attempt: sc.Attempt, FailureCode: sc.FailureCode}
		out.House.ID, out.House.Address, out.House.User = sc.HouseID, sc.Address, ownerOf(sc.Owner)
		out.Count.Rooms, out.Count.Images, out.Count.AgentRuns = sc.Rooms, sc.Images, sc.AgentRuns
		return out
	})
}

// agentRunJSON is every column of an AgentsRun row, then ours.
type agentRunRowJSON struct {
	ID         string          `json:"id"`
	ScanID     string          `json:"scanId"`
	AgentName  string          `json:"agentName"`
	ModelID    *string         `json:"modelId"`
	InputJSON  json.RawMessage `json:"inputJson"`
	OutputJSON json.RawMessage `json:"outputJson"`
	PromptHash *string         `json:"promptHash"`
	TokensIn   *int            `json:"tokensIn"`
	TokensOut  *int            `json:"tokensOut"`
	CostUSD    *string         `json:"costUsd"`
	CacheHit   bool            `json:"cacheHit"`
	StartedAt  *string         `json:"startedAt"`
	FinishedAt *string         `json:"finishedAt"`
	CreatedAt  string          `json:"createdAt"`
}

// agentRunRow presents a run; withInputs false leaves the inputs out (null): they are
// the owner's, and only the owner sees them.
func agentRunRow(r account.AgentRun, withInputs bool) agentRunRowJSON {
	out := agentRunRowJSON{ID: r.ID, ScanID: r.ScanID, AgentName: r.AgentName, ModelID: r.ModelID,
		InputJSON: json.RawMessage("null"), OutputJSON: rawOrNull(r.OutputJSON), PromptHash: r.PromptHash,
		TokensIn: r.TokensIn, TokensOut: r.TokensOut, CostUSD: r.CostUSD, CacheHit: r.CacheHit,
		StartedAt: isoTimePtr(r.StartedAt), FinishedAt: isoTimePtr(r.FinishedAt), CreatedAt: isoTime(r.CreatedAt)}
	if withInputs {
		out.InputJSON = rawOrNull(r.InputJSON)
	}
	return out
}

type scanRunJSON struct {
	agentRunRowJSON
	Attempt int     `json:"attempt"`
	Model   *string `json:"model"`
}

type adminRunJSON struct {
	agentRunRowJSON
	Scan struct {
		ID    string `json:"id"`
		House struct {
			Address *string `json:"address"`
			User    *struct {
				Email string `json:"email"`
			} `json:"user"`
		} `json:"house"`
	} `json:"scan"`
	Model *struct {
		ModelName string `json:"modelName"`
		Provider  string `json:"provider"`
	} `json:"model"`
	// Ours: "model" is taken by the relation above, so the analyzer's model name is
	// reportedModel here.
	Attempt       int     `json:"attempt"`
	ReportedModel *string `json:"reportedModel"`
}

func (s *Server) adminAgentRuns(c *gin.Context) {
	listPage(s, c, s.Console.ConsoleAgentRuns, "agent-runs", func(r account.AgentRun) any {
		out := adminRunJSON{agentRunRowJSON: agentRunRow(r, false), Attempt: r.Attempt, ReportedModel: r.Model}
		out.Scan.ID, out.Scan.House.Address = r.ScanID, r.Address
		if r.OwnerEmail != nil {
			out.Scan.House.User = &struct {
				Email string `json:"email"`
			}{Email: *r.OwnerEmail}
		}
		if r.ModelName != nil && r.Provider != nil {
			out.Model = &struct {
				ModelName string `json:"modelName"`
				Provider  string `json:"provider"`
			}{ModelName: *r.ModelName, Provider: *r.Provider}
		}
		return out
	})
}

// modelInfoJSON is a ModelInfo row, then ours.
type modelInfoJSON struct {
	modelRowJSON
	modelOursJSON
}

// modelRowJSON is every column of a ModelInfo row.
type modelRowJSON struct {
	ID            string          `json:"id"`
	Provider      string          `json:"provider"`
	ModelName     string          `json:"modelName"`
	Version       *string         `json:"version"`
	Pricing       json.RawMessage `json:"pricing"`
	EffectiveFrom string          `json:"effectiveFrom"`
	EffectiveTo   *string         `json:"effectiveTo"`
	CreatedAt     string          `json:"createdAt"`
}

type modelOursJSON struct {
	UpdatedAt string  `json:"updatedAt"`
	UpdatedBy *string `json:"updatedBy"`
}

func modelInfoOf(m account.ModelInfo) modelInfoJSON {
	return modelInfoJSON{
		modelRowJSON: modelRowJSON{ID: m.ID, Provider: m.Provider, ModelName: m.ModelName, Version: m.Version,
			Pricing: rawOrNull(m.Pricing), EffectiveFrom: isoTime(m.EffectiveFrom), EffectiveTo: isoTimePtr(m.EffectiveTo),
			CreatedAt: isoTime(m.CreatedAt)},
		modelOursJSON: modelOursJSON{UpdatedAt: isoTime(m.UpdatedAt), UpdatedBy: m.UpdatedBy}}
}

// adminModelJSON is the row with its _count where the original puts it, then ours.
type adminModelJSON struct {
	modelRowJSON
	Count struct {
		AgentRuns int `json:"agentRuns"`
	} `json:"_count"`
	modelOursJSON
}

func (s *Server) adminModels(c *gin.Context) {
	listPage(s, c, s.Console.ConsoleModels, "", func(m account.ModelInfo) any {
		j := modelInfoOf(m)
		out := adminModelJSON{modelRowJSON: j.modelRowJSON, modelOursJSON: j.modelOursJSON}
		out.Count.AgentRuns = m.AgentRuns
		return out
	})
}

// adminChecklistJSON is the row a user's own list shows, then ours.
type adminChecklistJSON struct {
	myChecklistJSON
	Enabled bool `json:"enabled"`
}

func (s *Server) adminBaseChecklists(c *gin.Context) {
	listPage(s, c, s.Console.ConsoleBaseChecklists, "", func(cl account.Checklist) any {
		return adminChecklistJSON{myChecklistJSON: myChecklistOf(cl), Enabled: cl.Enabled}
	})
}

// changedChecklistJSON is the full row an admin change answers with, then ours.
type changedChecklistJSON struct {
	checklistJSON
	Enabled bool `json:"enabled"`
}

type editChecklistRequest struct {
	Name     any             `json:"name"`
	ItemsRaw json.RawMessage `json:"itemsRaw"`
}

// patch makes the same checks as UpdateChecklistDto's name and itemsRaw.
func (r editChecklistRequest) patch() (account.ChecklistPatch, error) {
	return checklistRequest{Name: r.Name, ItemsRaw: r.ItemsRaw}.patch()
}

func (s *Server) adminEditChecklist(c *gin.Context) {
	changeBaseChecklist(s, c, editChecklistRequest.patch, s.Console.EditBaseChecklist)
}

type toggleRequest struct {
	Enable any `json:"enable"`
}

func (r toggleRequest) enable() (bool, error) {
	enable, isBool := r.Enable.(bool)
	if !isBool {
		return false, domain.Errorf(domain.EINVALID, "enable must be a boolean value")
	}
	return enable, nil
}

func (s *Server) adminToggleChecklist(c *gin.Context) {
	changeBaseChecklist(s, c, toggleRequest.enable, s.Console.ToggleBaseChecklist)
}

// changeBaseChecklist runs an admin change of the :id base checklist: decode and
// validate the body, let change apply it, and answer 200 with the full row.
func changeBaseChecklist[R, In any](s *Server, c *gin.Context, validate func(R) (In, error),
	change func(context.Context, account.Actor, string, In) (account.Checklist, error)) {
	in, valid := decodeInput(s, c, validate)
	if !valid {
		return
	}
	cl, err := change(c.Request.Context(), actorOf(c), c.Param("id"), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, changedChecklistJSON{checklistJSON: checklistOf(cl), Enabled: cl.Enabled})
}

func (s *Server) listModelsInfo(c *gin.Context) {
	if err := onlyQuery(c, "provider", "modelName"); err != nil {
		s.writeError(c, err)
		return
	}
	var provider, modelName *string
	if v, found := c.GetQuery("provider"); found {
		provider = &v
	}
	if v, found := c.GetQuery("modelName"); found {
		modelName = &v
	}
	list, err := s.Console.ModelsInfo(c.Request.Context(), provider, modelName)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, presentAll(list, modelInfoOf))
}

// modelInfoRequest is UpsertModelInfoDto.
type modelInfoRequest struct {
	Provider      any             `json:"provider"`
	ModelName     any             `json:"modelName"`
	Version       any             `json:"version"`
	Pricing       json.RawMessage `json:"pricing"`
	EffectiveFrom any             `json:"effectiveFrom"`
	EffectiveTo   any             `json:"effectiveTo"`
}

func (r modelInfoRequest) input() (account.ModelInput, error) {
	var p problems
	var in account.ModelInput
	required := func(name string, v any) string {
		s, isString := v.(string)
		if !isString {
			p.add("%s must be a string", name)
		} else if strings.TrimSpace(s) == "" {
			p.add("%s should not be empty", name)
		}
		return s
	}
	in.Provider = required("provider", r.Provider)
	in.ModelName = required("modelName", r.ModelName)
	if r.Version != nil {
		v, isString := r.Version.(string)
		if !isString {
			p.add("version must be a string")
		}
		in.Version = &v
	}
	if raw := strings.TrimSpace(string(r.Pricing)); !strings.HasPrefix(raw, "{") {
		p.add("pricing must be an object")
	} else {
		in.Pricing = json.RawMessage(raw)
	}
	date := func(name string, v any) *time.Time {
		s, _ := v.(string)
		t, ok := parseISODate(s)
		if !ok {
			p.add("%s must be a valid ISO 8601 date string", name)
			return nil
		}
		return &t
	}
	if t := date("effectiveFrom", r.EffectiveFrom); t != nil {
		in.EffectiveFrom = *t
	}
	if r.EffectiveTo != nil {
		in.EffectiveTo = date("effectiveTo", r.EffectiveTo)
	}
	return in, p.err()
}

// parseISODate accepts what class-validator's IsDateString does in practice: a date, or
// a date and time with an offset or Z. A time without an offset is read as UTC.
func parseISODate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (s *Server) postModelInfo(c *gin.Context) {
	in, valid := decodeInput(s, c, modelInfoRequest.input)
	if !valid {
		return
	}
	m, err := s.Console.PutModelInfo(c.Request.Context(), actorOf(c), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusCreated, modelInfoOf(m))
}

// listAgentRuns is GET /agents-runs?scanId=&agentName=: the owner sees every column;
// an auditor or admin (by stored role) may read anyone's, without the inputs and with
// an entry in the access trail; anyone else gets the same 404 as for a missing scan.
func (s *Server) listAgentRuns(c *gin.Context) {
	if err := onlyQuery(c, "scanId", "agentName"); err != nil {
		s.writeError(c, err)
		return
	}
	scanID := c.Query("scanId")
	if !domain.ValidID(scanID) {
		s.writeError(c, domain.Errorf(domain.EINVALID, "scanId must be a UUID"))
		return
	}
	var agentName *string
	if v, found := c.GetQuery("agentName"); found {
		agentName = &v
	}
	owner, runs, err := s.Console.ScanAgentRuns(c.Request.Context(), scanID, agentName)
	if err != nil {
		s.writeError(c, err)
		return
	}
	me := claims(c).UserID
	if owner != me {
		role, err := s.Console.Role(c.Request.Context(), me)
		if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
			s.writeError(c, err)
			return
		}
		if role != auth.RoleAuditor && role != auth.RoleAdmin {
			s.writeError(c, domain.Errorf(domain.ENOTFOUND, "Scan not found"))
			return
		}
		if err := s.recordRead(c, role, trail.ReadScan, "scan:"+scanID, owner, "agent runs"); err != nil {
			s.writeError(c, err)
			return
		}
	}
	ok(c, http.StatusOK, presentAll(runs, func(r account.AgentRun) scanRunJSON {
		return scanRunJSON{agentRunRowJSON: agentRunRow(r, owner == me), Attempt: r.Attempt, Model: r.Model}
	}))
}
