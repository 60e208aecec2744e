package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// auditRoutes are the auditors' routes: verification of the whole ledger and time
// travel through one scan.
func (s *Server) auditRoutes(authed *gin.RouterGroup) {
	authed.GET("/audit/verify", s.auditVerify)
	authed.GET("/scans/:scanId/state", s.scanState)
	authed.GET("/audit/export", s.auditExport)
	authed.GET("/audit/scans", s.auditScans)
	authed.GET("/audit/access", s.auditAccess)
}

// requireAuditor answers 403 unless the caller is an auditor or admin now.
func (s *Server) requireAuditor(c *gin.Context) bool {
	if !s.canAudit(c) {
		s.writeError(c, domain.Errorf(domain.EFORBIDDEN, "Auditors only"))
		return false
	}
	return true
}

// requireAuditorOf is requireAuditor for a feature that may not be configured: what
// (for example "Export") answers 503 when it is not.
func (s *Server) requireAuditorOf(c *gin.Context, configured bool, what string) bool {
	if !s.requireAuditor(c) {
		return false
	}
	if !configured {
		s.writeError(c, domain.Errorf(domain.EUNAVAILABLE, "%s is not configured", what))
		return false
	}
	return true
}

// auditVerify checks every chain against the latest seal (or one scan's, with
// ?scanId=). It reads the whole store: slow on a big one, and meant for auditors.
func (s *Server) auditVerify(c *gin.Context) {
	if !s.requireAuditorOf(c, s.Verifier != nil, "Verification") {
		return
	}
	ctx := c.Request.Context()
	var rep audit.Report
	var err error
	if id := c.Query("scanId"); id != "" {
		if !domain.ValidID(id) {
			s.writeError(c, domain.Errorf(domain.EINVALID, "scanId must be a UUID"))
			return
		}
		rep, err = s.Verifier.Stream(ctx, scan.StreamName(id))
	} else {
		rep, err = s.Verifier.All(ctx)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	if rep.Problems == nil {
		rep.Problems = []audit.Problem{}
	}
	if rep.Seal != nil {
		sealCopy := *rep.Seal
		sealCopy.Changed = nil // the heads list is for verifiers, not for this answer
		rep.Seal = &sealCopy
	}
	ok(c, http.StatusOK, gin.H{"valid": rep.OK(), "report": rep})
}

// stateJSON is a scan as it stood after one event.
type stateJSON struct {
	ScanID      string          `json:"scanId"`
	Version     int64           `json:"version"`
	At          string          `json:"at"`
	EventType   string          `json:"eventType"`
	UserID      string          `json:"userId"`
	HouseID     string          `json:"houseId"`
	Address     string          `json:"address"`
	Status      scan.Status     `json:"status"`
	Deleted     bool            `json:"deleted"`
	Attempt     int             `json:"attempt"`
	Progress    int             `json:"progress"`
	Rooms       []scan.Room     `json:"rooms"`
	ImagesCount int             `json:"imagesCount"`
	Result      *scan.Completed `json:"result"`
	Failure     *scan.Failed    `json:"failure"`
}

func stateOf(snap scan.Snapshot) stateJSON {
	sc := snap.Scan
	rooms := sc.Rooms
	if rooms == nil {
		rooms = []scan.Room{}
	}
	return stateJSON{ScanID: sc.ID, Version: snap.Version, At: snap.At.UTC().Format(time.RFC3339Nano), EventType: snap.Type,
		UserID: sc.UserID, HouseID: sc.HouseID, Address: sc.Address, Status: sc.Status, Deleted: sc.Deleted,
		Attempt: sc.Attempt, Progress: sc.Progress, Rooms: rooms, ImagesCount: sc.ImagesCount(),
		Result: snap.Result, Failure: snap.Failure}
}

// scanState is time travel: the scan as it stood after ?version=N or at ?at=<RFC 3339>
// (now, without either). Owners see their own scans; auditors and admins any.
func (s *Server) scanState(c *gin.Context) {
	v, at := c.Query("version"), c.Query("at")
	if v != "" && at != "" {
		s.writeError(c, domain.Errorf(domain.EINVALID, "give version or at, not both"))
		return
	}
	keep := scan.UpToVersion(1<<62 - 1)
	switch {
	case v != "":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(c, domain.Errorf(domain.EINVALID, "version must be a whole number >= 0"))
			return
		}
		keep = scan.UpToVersion(n)
	case at != "":
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			s.writeError(c, domain.Errorf(domain.EINVALID, "at must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"))
			return
		}
		keep = scan.UpToTime(t)
	}
	id, recs, err := s.history(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	snap, err := scan.Replay(c.Request.Context(), s.Scans.Cipher, id, recs, keep)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if snap.Version < 0 {
		s.writeError(c, domain.Errorf(domain.ENOTFOUND, "Scan did not exist yet at that time"))
		return
	}
	ok(c, http.StatusOK, stateOf(snap))
}

// pageOf applies ?fromVersion= (default 0) and ?limit= (default all) to a history.
func pageOf(c *gin.Context, recs []event.Recorded) ([]event.Recorded, error) {
	if v := c.Query("fromVersion"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, domain.Errorf(domain.EINVALID, "fromVersion must be a whole number >= 0")
		}
		if n > int64(len(recs)) {
			n = int64(len(recs))
		}
		recs = recs[n:] // versions are 0..len-1 in order
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, domain.Errorf(domain.EINVALID, "limit must be a whole number >= 1")
		}
		if n < len(recs) {
			recs = recs[:n]
		}
	}
	return recs, nil
}

// wantsNDJSON says whether the caller asked for one JSON object a line.
func wantsNDJSON(c *gin.Context) bool {
	return c.Query("format") == "ndjson" || strings.Contains(c.GetHeader("Accept"), "application/x-ndjson")
}

// writeNDJSON writes events one a line, in the same shape as the JSON array.
func writeNDJSON(c *gin.Context, recs []event.Recorded) {
	c.Header("Content-Type", "application/x-ndjson")
	c.Status(http.StatusOK)
	enc := json.NewEncoder(c.Writer)
	for _, r := range recs {
		if err := enc.Encode(recordedOf(r)); err != nil {
			return // the client went away
		}
	}
}

// auditExport streams the scans created in [from, to) (by userId, when given) with a
// fresh seal, their proofs and the public key: a file `scanledger verify --file` checks
// with no database.
func (s *Server) auditExport(c *gin.Context) {
	if !s.requireAuditorOf(c, s.Exporter != nil, "Export") {
		return
	}
	from, to, err := timeRange(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	user := c.Query("userId")
	sel := audit.Selection{Prefix: scan.StreamPrefix, Query: c.Request.URL.RawQuery, Keep: func(first event.Recorded) bool {
		e, err := scan.Decode(first)
		created, isCreated := e.(scan.Created)
		if err != nil || !isCreated || (user != "" && created.UserID != user) {
			return false
		}
		m, err := event.ParseMetadata(first.Metadata)
		return err == nil && (from.IsZero() || !m.OccurredAt.Before(from)) && (to.IsZero() || m.OccurredAt.Before(to))
	}}
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="scanledger-export.ndjson"`)
	c.Status(http.StatusOK)
	if err := s.Exporter.Export(c.Request.Context(), c.Writer, sel); err != nil {
		// The status is sent; the missing end line tells the reader the file is cut.
		s.log.Error("audit export", "err", err)
	}
}
