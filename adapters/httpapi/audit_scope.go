package httpapi

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
	"github.com/scanledger/scanledger/domain/trail"
)

// auditorsReadOnly refuses every write to an auditor: auditors read everything and
// change nothing. The stored role decides as well as the token's, so a user made
// auditor cannot keep writing with an older token.
func (s *Server) auditorsReadOnly(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	cl := claims(c)
	role := cl.Role
	if s.Accounts != nil && role != auth.RoleAuditor {
		if stored, err := s.Accounts.Role(c.Request.Context(), cl.UserID); err == nil {
			role = stored
		}
	}
	if role == auth.RoleAuditor {
		s.writeError(c, domain.Errorf(domain.EFORBIDDEN, "Auditors have read-only access"))
		c.Abort()
		return
	}
	c.Next()
}

// recordAccess writes one trail entry for the caller. An error (logged, and a 500 for
// the caller to answer) means it could not be recorded, and the access must not go on.
func (s *Server) recordAccess(c *gin.Context, action, subject, ownerID, detail string) error {
	if s.Trail == nil {
		return nil
	}
	cl := claims(c)
	err := s.Trail.Record(c.Request.Context(), trail.Entry{ActorID: cl.UserID, ActorRole: cl.Role, Action: action,
		Subject: subject, OwnerID: ownerID, RequestID: c.GetHeader("X-Request-Id"), Detail: detail})
	if err != nil {
		s.log.Error("access trail", "action", action, "subject", subject, "err", err)
		return domain.Errorf(domain.EINTERNAL, "Could not record the access")
	}
	return nil
}

// recordScanRead records an auditor's or admin's read of someone else's scan.
func (s *Server) recordScanRead(c *gin.Context, scanID, ownerID string) error {
	if ownerID == claims(c).UserID {
		return nil
	}
	return s.recordAccess(c, trail.ReadScan, "scan:"+scanID, ownerID, c.Request.Method+" "+c.FullPath())
}

type accessJSON struct {
	Version   int64  `json:"version"`
	At        string `json:"at"`
	ActorID   string `json:"actorId"`
	ActorRole string `json:"actorRole"`
	Action    string `json:"action"`
	Subject   string `json:"subject"`
	OwnerID   string `json:"ownerId"`
	RequestID string `json:"requestId"`
	Detail    string `json:"detail"`
}

// auditAccess lists the access trail, for one scan (?scanId=) or one user's data or
// doings (?userId=: entries they made or about them), oldest first.
func (s *Server) auditAccess(c *gin.Context) {
	if !s.requireAuditorOf(c, s.AccessTrail != nil, "The access trail") {
		return
	}
	scanID, userID := c.Query("scanId"), c.Query("userId")
	entries, err := s.AccessTrail.Entries(c.Request.Context(), func(e trail.Entry) bool {
		return (scanID == "" || e.Subject == "scan:"+scanID) &&
			(userID == "" || e.ActorID == userID || e.OwnerID == userID || e.Subject == "user:"+userID)
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, presentAll(entries, func(e audit.Recorded) accessJSON {
		return accessJSON{Version: e.Version, At: e.At.UTC().Format(time.RFC3339Nano), ActorID: e.ActorID, ActorRole: e.ActorRole,
			Action: e.Action, Subject: e.Subject, OwnerID: e.OwnerID, RequestID: e.RequestID, Detail: e.Detail}
	}))
}

type auditScanJSON struct {
	ScanID    string      `json:"scanId"`
	UserID    string      `json:"userId"`
	HouseID   string      `json:"houseId"`
	Status    scan.Status `json:"status"`
	Deleted   bool        `json:"deleted"`
	Attempt   int         `json:"attempt"`
	Version   int64       `json:"version"`
	CreatedAt string      `json:"createdAt"`
	UpdatedAt string      `json:"updatedAt"`
}

// auditScans lists every scan, deleted ones included, newest first, filtered by
// ?userId=, ?status= and creation time ?from= / ?to= (RFC 3339). It is built from the
// event store, not the read model, because the read model forgets deleted scans; it
// reads the whole all-stream.
func (s *Server) auditScans(c *gin.Context) {
	if !s.requireAuditor(c) {
		return
	}
	from, to, err := timeRange(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	userID, status := c.Query("userId"), c.Query("status")
	ctx := c.Request.Context()
	type entry struct {
		state   *scan.Scan
		created time.Time
		updated time.Time
	}
	all := map[string]*entry{}
	var cursor event.Cursor
	for {
		recs, err := s.Scans.Store.ReadAll(ctx, cursor, 2000)
		if err != nil {
			s.writeError(c, err)
			return
		}
		for _, r := range recs {
			cursor = r.Position
			id, isScan := strings.CutPrefix(r.StreamID, scan.StreamPrefix)
			if !isScan {
				continue
			}
			ev, err := scan.Decode(r) // the list shows no personal field: no key needed
			if err != nil {
				s.writeError(c, err)
				return
			}
			m, _ := event.ParseMetadata(r.Metadata)
			e := all[id]
			if e == nil {
				e = &entry{state: scan.New(id), created: m.OccurredAt}
				all[id] = e
			}
			e.state.Apply(ev)
			e.updated = m.OccurredAt
		}
		if len(recs) < 2000 {
			break
		}
	}
	out := []auditScanJSON{}
	for id, e := range all {
		st := e.state
		if (userID != "" && st.UserID != userID) || (status != "" && string(st.Status) != status) ||
			(!from.IsZero() && e.created.Before(from)) || (!to.IsZero() && !e.created.Before(to)) {
			continue
		}
		out = append(out, auditScanJSON{ScanID: id, UserID: st.UserID, HouseID: st.HouseID, Status: st.Status, Deleted: st.Deleted,
			Attempt: st.Attempt, Version: st.Version, CreatedAt: isoTime(e.created), UpdatedAt: isoTime(e.updated)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt > out[j].CreatedAt
		}
		return out[i].ScanID < out[j].ScanID
	})
	ok(c, http.StatusOK, out)
}

// changedFields names the profile fields a change touched (never their values: the
// trail holds no passwords).
func changedFields(ch account.Changes) string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"email", ch.Email != nil}, {"password", ch.Password != nil}, {"firstName", ch.FirstName != nil}, {"lastName", ch.LastName != nil}} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return "changed " + strings.Join(names, ", ")
}

// timeRange reads the ?from= and ?to= query parameters (RFC 3339; either may be absent,
// giving the zero time).
func timeRange(c *gin.Context) (from, to time.Time, err error) {
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.Query(q.name); v != "" {
			t, perr := time.Parse(time.RFC3339Nano, v)
			if perr != nil {
				return time.Time{}, time.Time{}, domain.Errorf(domain.EINVALID, "%s must be an RFC 3339 time", q.name)
			}
			*q.dst = t
		}
	}
	return from, to, nil
}
