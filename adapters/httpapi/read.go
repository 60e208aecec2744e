package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/projections/scans"
)

// Reader is what the API reads from the read model.
type Reader interface {
	Get(ctx context.Context, scanID string) (*scans.Scan, error) // ENOTFOUND when missing
	ListByUser(ctx context.Context, userID string) ([]scans.Scan, error)
	HouseOwner(ctx context.Context, houseID string) (string, error) // ENOTFOUND when missing
	HouseType(ctx context.Context, houseID string) (*string, error)
	CountOtherScans(ctx context.Context, houseID, exceptScanID string) (int, error)
}

// The JSON shapes below are the PWA's (contract section 1.5 items 6 and 11), field for
// field: camelCase, ISO dates with milliseconds, arrays never null, costUsd a string.

type imageJSON struct {
	ID        string  `json:"id"`
	URL       string  `json:"url"`
	Tag       *string `json:"tag"`
	RoomID    *string `json:"roomId,omitempty"`
	CreatedAt string  `json:"createdAt"`
}

type roomJSON struct {
	ID                string      `json:"id"`
	Ordinal           int         `json:"ordinal"`
	Label             *string     `json:"label"`
	DetectedRoomTypes []string    `json:"detectedRoomTypes"`
	Images            []imageJSON `json:"images"`
}

type houseJSON struct {
	ID        string  `json:"id"`
	Address   *string `json:"address"`
	HouseType *string `json:"houseType"`
	Status    string  `json:"status,omitempty"`
	CreatedAt string  `json:"createdAt,omitempty"`
	UpdatedAt string  `json:"updatedAt,omitempty"`
}

type summaryJSON struct {
	ID           string          `json:"id"`
	SummaryJSON  json.RawMessage `json:"summaryJson"`
	ProsConsJSON json.RawMessage `json:"prosConsJson"`
	CostSummary  json.RawMessage `json:"costSummary"`
	DerivedAt    string          `json:"derivedAt"`
}

type agentRunJSON struct {
	ID         string  `json:"id"`
	AgentName  string  `json:"agentName"`
	TokensIn   int     `json:"tokensIn"`
	TokensOut  int     `json:"tokensOut"`
	CostUSD    string  `json:"costUsd"`
	StartedAt  *string `json:"startedAt"`
	FinishedAt *string `json:"finishedAt"`
}

// scanRowJSON is the columns of a Scan row that GET /scans/:id and the console's scan
// list both open with. The history list leaves houseId and inputsSnapshot out; the
// console always has both (every scan has a house, and a missing snapshot is null).
type scanRowJSON struct {
	ID                 string          `json:"id"`
	HouseID            string          `json:"houseId,omitempty"`
	Status             string          `json:"status"`
	InputsSnapshot     json.RawMessage `json:"inputsSnapshot,omitempty"`
	DetectedHouseTypes []string        `json:"detectedHouseTypes"`
	StartedAt          *string         `json:"startedAt"`
	FinishedAt         *string         `json:"finishedAt"`
	CreatedAt          string          `json:"createdAt"`
}

type scanJSON struct {
	scanRowJSON
	// Address repeats house.address at the top level: the PWA's history page reads it
	// there (contract 1.5-6 quirk).
	Address   *string        `json:"address,omitempty"`
	House     houseJSON      `json:"house"`
	Rooms     []roomJSON     `json:"rooms"`
	Images    []imageJSON    `json:"images"`
	Summary   *summaryJSON   `json:"summary"`
	AgentRuns []agentRunJSON `json:"agentRuns"`
	// Ours, beside the contract: where processing stands.
	Progress *int    `json:"progress,omitempty"`
	Stage    *string `json:"stage,omitempty"`
	Error    *string `json:"error,omitempty"`
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func rawOrNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// paidCosts is the cost summary, or null when no paid analysis ran (no tokens, no
// cost: the built-in analyzer). The PWA draws its cost tile with
// `total_estimated_usd && (...)`, which prints a stray "0" for a zero; a null
// costSummary, which the original backend also sent before a scan's analysis, shows no
// tile at all.
func paidCosts(r json.RawMessage) json.RawMessage {
	var c struct {
		Tokens struct {
			Total float64 `json:"total_tokens"`
		} `json:"tokens"`
		Costs struct {
			USD float64 `json:"total_estimated_usd"`
		} `json:"costs"`
	}
	if len(r) == 0 || json.Unmarshal(r, &c) != nil || (c.Tokens.Total == 0 && c.Costs.USD == 0) {
		return json.RawMessage("null")
	}
	return r
}

// present turns a read-model scan into the PWA's JSON. detail adds the fields only GET
// /scans/:id has (houseId, inputsSnapshot, house status and dates, image roomId).
func (s *Server) present(ctx context.Context, sc *scans.Scan, detail bool) (scanJSON, error) {
	out := scanJSON{
		scanRowJSON: scanRowJSON{ID: sc.ID, Status: sc.Status, DetectedHouseTypes: nonNilStrings(sc.DetectedHouseTypes),
			StartedAt: isoTimePtr(sc.StartedAt), FinishedAt: isoTimePtr(sc.FinishedAt), CreatedAt: isoTime(sc.CreatedAt)},
		House:     houseJSON{ID: sc.House.ID, Address: sc.House.Address, HouseType: sc.House.HouseType},
		Rooms:     []roomJSON{},
		Images:    []imageJSON{},
		AgentRuns: []agentRunJSON{},
		Progress:  sc.Progress,
		Stage:     sc.Stage,
		Error:     sc.FailureReason,
	}
	if detail {
		out.HouseID = sc.HouseID
		out.InputsSnapshot = rawOrNull(sc.InputsSnapshot)
		out.House.Status = sc.House.Status
		out.House.CreatedAt = isoTime(sc.House.CreatedAt)
		out.House.UpdatedAt = isoTime(sc.House.UpdatedAt)
	} else {
		out.Address = sc.House.Address
	}
	// One signed URL per stored photo, shared by the room and the flat list.
	urls := map[string]string{}
	sign := func(key string) (string, error) {
		if u, ok := urls[key]; ok {
			return u, nil
		}
		u, err := s.Blobs.SignedURL(ctx, key, s.URLTTL)
		urls[key] = u
		return u, err
	}
	image := func(im scans.Image, withRoom bool) (imageJSON, error) {
		u, err := sign(im.BlobKey)
		j := imageJSON{ID: im.ID, URL: u, Tag: im.Tag, CreatedAt: isoTime(im.CreatedAt)}
		if withRoom {
			j.RoomID = im.RoomID
		}
		return j, err
	}
	for _, r := range sc.Rooms {
		rj := roomJSON{ID: r.ID, Ordinal: r.Ordinal, Label: r.Label, DetectedRoomTypes: nonNilStrings(r.DetectedRoomTypes), Images: []imageJSON{}}
		for _, im := range r.Images {
			ij, err := image(im, false)
			if err != nil {
				return out, err
			}
			rj.Images = append(rj.Images, ij)
		}
		out.Rooms = append(out.Rooms, rj)
	}
	for _, im := range sc.Images {
		ij, err := image(im, detail)
		if err != nil {
			return out, err
		}
		out.Images = append(out.Images, ij)
	}
	if sm := sc.Summary; sm != nil {
		out.Summary = &summaryJSON{ID: sm.ID, SummaryJSON: rawOrNull(sm.SummaryJSON), ProsConsJSON: rawOrNull(sm.ProsConsJSON),
			CostSummary: paidCosts(sm.CostSummary), DerivedAt: isoTime(sm.DerivedAt)}
	}
	for _, ar := range sc.AgentRuns {
		cost := "0"
		if ar.CostUSD != nil {
			cost = *ar.CostUSD
		}
		out.AgentRuns = append(out.AgentRuns, agentRunJSON{ID: ar.ID, AgentName: ar.AgentName, TokensIn: ar.TokensIn,
			TokensOut: ar.TokensOut, CostUSD: cost, StartedAt: isoTimePtr(ar.StartedAt), FinishedAt: isoTimePtr(ar.FinishedAt)})
	}
	return out, nil
}

// readableScan opens a handler that shows the :scanId scan: it loads it from the read
// model for its owner, or for an auditor or admin; anyone else is told it does not
// exist. found is false when it cannot be shown; the error is then written.
func (s *Server) readableScan(c *gin.Context) (sc *scans.Scan, found bool) {
	sc, err := s.loadReadableScan(c)
	if err != nil {
		s.writeError(c, err)
		return nil, false
	}
	return sc, true
}

func (s *Server) loadReadableScan(c *gin.Context) (*scans.Scan, error) {
	id, err := scanID(c)
	if err != nil {
		return nil, err
	}
	sc, err := s.Reader.Get(c.Request.Context(), id)
	if err != nil {
		return nil, err
	}
	if sc.UserID != claims(c).UserID && !s.canAudit(c) {
		return nil, domain.Errorf(domain.ENOTFOUND, "Scan not found")
	}
	if err := s.recordScanRead(c, id, sc.UserID); err != nil {
		return nil, err
	}
	return sc, nil
}

func (s *Server) getScan(c *gin.Context) {
	sc, found := s.readableScan(c)
	if !found {
		return
	}
	out, err := s.present(c.Request.Context(), sc, true)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, out)
}

func (s *Server) myScans(c *gin.Context) {
	ctx := c.Request.Context()
	list, err := s.Reader.ListByUser(ctx, claims(c).UserID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]scanJSON, 0, len(list))
	for i := range list {
		j, err := s.present(ctx, &list[i], false)
		if err != nil {
			s.writeError(c, err)
			return
		}
		out = append(out, j)
	}
	ok(c, http.StatusOK, out)
}
