package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/scan"
)

// auditRoutes are the auditors' routes: verification of the whole ledger and time
// travel through one scan.
func (s *Server) auditRoutes(authed *gin.RouterGroup) {
	authed.GET("/audit/verify", s.auditVerify)
	authed.GET("/scans/:scanId/state", s.scanState)
}

// requireAuditor answers 403 unless the caller is an auditor or admin now.
func (s *Server) requireAuditor(c *gin.Context) bool {
	if !s.canAudit(c) {
		s.writeError(c, domain.Errorf(domain.EFORBIDDEN, "Auditors only"))
		return false
	}
	return true
}

// auditVerify checks every chain against the latest seal (or one scan's, with
// ?scanId=). It reads the whole store: slow on a big one, and meant for auditors.
func (s *Server) auditVerify(c *gin.Context) {
	if !s.requireAuditor(c) {
		return
	}
	if s.Verifier == nil {
		s.writeError(c, domain.Errorf(domain.EUNAVAILABLE, "Verification is not configured"))
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
	snap, err := scan.Replay(id, recs, keep)
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
