package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain/account"
)

// ChecklistStore stores base and custom checklists (adapters/accounts.Store). It
// validates scopes and contents, and checks the caller's stored role for base
// checklists.
type ChecklistStore interface {
	// BaseChecklist returns nil when the scope has no base checklist.
	BaseChecklist(ctx context.Context, scope string) (*account.Checklist, error)
	PutBaseChecklist(ctx context.Context, actorID, scope string, p account.ChecklistPatch) (account.Checklist, error)
	PutCustomChecklist(ctx context.Context, userID, scope string, p account.ChecklistPatch) (account.Checklist, error)
	UpdateCustomChecklist(ctx context.Context, userID, id string, p account.ChecklistPatch) (account.Checklist, error)
	CustomChecklists(ctx context.Context, userID string) ([]account.Checklist, error)
}

// checklistRoutes registers /checklists/* and /users/me/checklists. Without a store
// there are none: the routes answer 404 rather than panic.
func (s *Server) checklistRoutes(authed *gin.RouterGroup) {
	if s.ChecklistStore == nil {
		return
	}
	authed.GET("/users/me/checklists", s.myChecklists)
	authed.GET("/checklists/base/:scope", s.getBaseChecklist)
	authed.PUT("/checklists/base/:scope", s.putBaseChecklist)
	authed.PUT("/checklists/scope/:scope", s.putCustomChecklist)
	authed.PATCH("/checklists/:checklistId", s.patchChecklist)
}

// checklistJSON is a full Checklist row (contract 1.5 items 13-15).
type checklistJSON struct {
	ID        string          `json:"id"`
	Scope     string          `json:"scope"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	IsBase    bool            `json:"isBase"`
	UserID    *string         `json:"userId"`
	ItemsRaw  json.RawMessage `json:"itemsRaw"`
	CreatedAt string          `json:"createdAt"`
}

func checklistOf(c account.Checklist) checklistJSON {
	return checklistJSON{ID: c.ID, Scope: c.Scope, Name: c.Name, Version: c.Version, IsBase: c.IsBase, UserID: c.UserID,
		ItemsRaw: rawOrNull(c.ItemsRaw), CreatedAt: isoTime(c.CreatedAt)}
}

// myChecklistJSON is an element of GET /users/me/checklists: no isBase, no userId.
type myChecklistJSON struct {
	ID        string          `json:"id"`
	Scope     string          `json:"scope"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	ItemsRaw  json.RawMessage `json:"itemsRaw"`
	CreatedAt string          `json:"createdAt"`
}

func myChecklistOf(cl account.Checklist) myChecklistJSON {
	return myChecklistJSON{ID: cl.ID, Scope: cl.Scope, Name: cl.Name, Version: cl.Version,
		ItemsRaw: rawOrNull(cl.ItemsRaw), CreatedAt: isoTime(cl.CreatedAt)}
}

func (s *Server) myChecklists(c *gin.Context) {
	list, err := s.ChecklistStore.CustomChecklists(c.Request.Context(), claims(c).UserID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, presentAll(list, myChecklistOf))
}

func (s *Server) getBaseChecklist(c *gin.Context) {
	cl, err := s.ChecklistStore.BaseChecklist(c.Request.Context(), c.Param("scope"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	if cl == nil {
		ok(c, http.StatusOK, nil)
		return
	}
	ok(c, http.StatusOK, checklistOf(*cl))
}

func (s *Server) putBaseChecklist(c *gin.Context) {
	s.saveChecklist(c, func(ctx context.Context, p account.ChecklistPatch) (account.Checklist, error) {
		return s.ChecklistStore.PutBaseChecklist(ctx, claims(c).UserID, c.Param("scope"), p)
	})
}

func (s *Server) putCustomChecklist(c *gin.Context) {
	s.saveChecklist(c, func(ctx context.Context, p account.ChecklistPatch) (account.Checklist, error) {
		return s.ChecklistStore.PutCustomChecklist(ctx, claims(c).UserID, c.Param("scope"), p)
	})
}

func (s *Server) patchChecklist(c *gin.Context) {
	s.saveChecklist(c, func(ctx context.Context, p account.ChecklistPatch) (account.Checklist, error) {
		return s.ChecklistStore.UpdateCustomChecklist(ctx, claims(c).UserID, c.Param("checklistId"), p)
	})
}

// saveChecklist decodes an UpdateChecklistDto body, lets save store it, and answers 200
// with the row.
func (s *Server) saveChecklist(c *gin.Context, save func(context.Context, account.ChecklistPatch) (account.Checklist, error)) {
	p, valid := decodeInput(s, c, checklistRequest.patch)
	if !valid {
		return
	}
	cl, err := save(c.Request.Context(), p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, checklistOf(cl))
}
