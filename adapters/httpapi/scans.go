package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// meta says who acted, for the events' metadata.
func meta(c *gin.Context) scan.Meta {
	rid := requestIDOf(c)
	return scan.Meta{UserID: claims(c).UserID, CorrelationID: rid, CausationID: rid}
}

// scanID reads the :scanId parameter. A malformed id cannot name a scan: 404, as for
// any scan the caller does not own (never a database error).
func scanID(c *gin.Context) (string, error) {
	id := c.Param("scanId")
	if !domain.ValidID(id) {
		return "", domain.Errorf(domain.ENOTFOUND, "Scan not found")
	}
	return strings.ToLower(id), nil
}

// callerScan opens a handler that acts on one scan for its caller: the scan id from
// the path and the caller's user id. found is false when the id is not one; the 404 is
// then written.
func (s *Server) callerScan(c *gin.Context) (id, userID string, found bool) {
	id, err := scanID(c)
	if err != nil {
		s.writeError(c, err)
		return "", "", false
	}
	return id, claims(c).UserID, true
}

// decodeStrict decodes a small JSON body into v, rejecting unknown properties the way
// the original's ValidationPipe(forbidNonWhitelisted) did. An empty body is {}.
func decodeStrict(c *gin.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return domain.Errorf(domain.ETOOLARGE, "Request body too large")
		}
		if domain.ErrorCode(err) == domain.ETIMEOUT {
			return err
		}
		return domain.Errorf(domain.EINVALID, "Could not read the request body")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return domain.Errorf(domain.EINVALID, "Request body must be a JSON object")
	}
	known := jsonFields(v)
	if err := unknownProperties(maps.Keys(raw), func(k string) bool { return known[k] }); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return domain.Errorf(domain.EINVALID, "Invalid request body: %s", jsonProblem(err))
	}
	return nil
}

// unknownProperties refuses the names that are not known, listing them all in order,
// as the original's whitelisting validation did for bodies and query strings alike.
func unknownProperties(names iter.Seq[string], known func(string) bool) error {
	var bad []string
	for k := range names {
		if !known(k) {
			bad = append(bad, fmt.Sprintf("property %s should not exist", k))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return &domain.Error{Code: domain.EINVALID, Message: bad[0], Details: bad}
	}
	return nil
}

// decodeInput decodes the body into a request R and validates it into what the store
// takes. When either fails it has answered with the error, and reports false.
func decodeInput[R, In any](s *Server, c *gin.Context, validate func(R) (In, error)) (In, bool) {
	var req R
	err := decodeStrict(c, &req)
	var in In
	if err == nil {
		in, err = validate(req)
	}
	if err != nil {
		s.writeError(c, err)
		return in, false
	}
	return in, true
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type.String())
	}
	return "malformed JSON"
}

type createScanRequest struct {
	HouseID *string `json:"houseId"`
	Address *string `json:"address"`
}

const maxAddressLen = 500

func (s *Server) createScan(c *gin.Context) {
	var req createScanRequest
	if err := decodeStrict(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	cl := claims(c)
	address := ""
	if req.Address != nil {
		address = strings.TrimSpace(*req.Address)
		if len(address) > maxAddressLen {
			s.writeError(c, domain.Errorf(domain.EINVALID, "address must be shorter than or equal to %d characters", maxAddressLen))
			return
		}
	}
	houseID, newHouse := domain.NewID(), true
	if req.HouseID != nil {
		if !domain.ValidID(*req.HouseID) {
			s.writeError(c, domain.Errorf(domain.EINVALID, "houseId must be a UUID"))
			return
		}
		owner, err := s.Reader.HouseOwner(c.Request.Context(), strings.ToLower(*req.HouseID))
		if err != nil || owner != cl.UserID {
			if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
				s.writeError(c, err)
				return
			}
			s.writeError(c, domain.Errorf(domain.ENOTFOUND, "House not found"))
			return
		}
		houseID, newHouse = strings.ToLower(*req.HouseID), false
	}
	id := domain.NewID()
	if _, err := s.Scans.Execute(c.Request.Context(), id, meta(c), func(sc *scan.Scan) error {
		return sc.Create(cl.UserID, houseID, newHouse, address)
	}); err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusCreated, gin.H{"scanId": id, "houseId": houseID, "status": "queued"})
}

func (s *Server) processScan(c *gin.Context) {
	id, userID, found := s.callerScan(c)
	if !found {
		return
	}
	var req struct{}
	if err := decodeStrict(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	// The caller's own checklists, merged: nothing about the scan is read or disclosed
	// before the aggregate has checked that it is theirs.
	lists, err := s.Checklists.Merged(ctx, userID)
	if err != nil {
		s.writeError(c, fmt.Errorf("merge checklists: %w", err))
		return
	}
	if _, err := s.Scans.Execute(ctx, id, meta(c), func(sc *scan.Scan) error {
		// The house type is a read-model fact the aggregate does not hold; unknown is nil.
		houseType, _ := s.Reader.HouseType(ctx, sc.HouseID)
		return sc.StartProcessing(userID, lists, houseType)
	}); err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusCreated, gin.H{"scanId": id, "status": "running", "message": "Scan processing started"})
}

func (s *Server) deleteScan(c *gin.Context) {
	id, userID, found := s.callerScan(c)
	if !found {
		return
	}
	ctx := c.Request.Context()
	res, err := s.Scans.Execute(ctx, id, meta(c), func(sc *scan.Scan) error {
		if err := sc.OwnedBy(userID); err != nil {
			return err
		}
		return sc.Delete()
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	// The photos go now; the history stays. A failure here leaves orphaned blobs under
	// a deleted scan's prefix, which a later delete can retry; it is logged, not hidden.
	if err := s.Blobs.DeletePrefix(ctx, "scans/"+id+"/"); err != nil {
		s.log.Error("delete scan photos", "scan", id, "err", err)
	}
	others, err := s.Reader.CountOtherScans(ctx, res.Scan.HouseID, id)
	body := gin.H{"message": "Scan deleted successfully", "scanId": id, "houseDeleted": false}
	if err == nil && others == 0 {
		body["houseDeleted"] = true
		body["houseId"] = res.Scan.HouseID
	}
	ok(c, http.StatusOK, body)
}

// history loads a scan's events for its owner, or for an auditor or admin.
func (s *Server) history(c *gin.Context) (string, []event.Recorded, error) {
	id, err := scanID(c)
	if err != nil {
		return "", nil, err
	}
	ctx := c.Request.Context()
	recs, err := s.Scans.History(ctx, id)
	if err != nil {
		return "", nil, err
	}
	if len(recs) == 0 {
		return "", nil, domain.Errorf(domain.ENOTFOUND, "Scan not found")
	}
	first, err := scan.Decode(recs[0])
	created, isCreated := first.(scan.Created)
	if cl := claims(c); !s.canAudit(c) {
		if err != nil || !isCreated || created.UserID != cl.UserID {
			return "", nil, domain.Errorf(domain.ENOTFOUND, "Scan not found")
		}
	} else if err := s.recordScanRead(c, id, created.UserID); err != nil {
		return "", nil, err
	}
	return id, recs, nil
}

type recordedJSON struct {
	Position      string          `json:"position"`
	Version       int64           `json:"version"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	RecordedAt    string          `json:"recordedAt"`
}

func recordedOf(r event.Recorded) recordedJSON {
	return recordedJSON{Position: string(r.Position), Version: r.Version, ID: r.ID, Type: r.Type,
		SchemaVersion: r.SchemaVersion, Data: r.Data, Metadata: r.Metadata, RecordedAt: isoTime(r.RecordedAt)}
}

// scanEvents returns a scan's whole history in order: what auditors replay.
func (s *Server) scanEvents(c *gin.Context) {
	_, recs, err := s.history(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if recs, err = pageOf(c, recs); err != nil { // ?fromVersion= and ?limit= (audit.go)
		s.writeError(c, err)
		return
	}
	if wantsNDJSON(c) {
		writeNDJSON(c, recs)
		return
	}
	ok(c, http.StatusOK, presentAll(recs, recordedOf))
}

// verifyScan recomputes the scan's hash chain.
func (s *Server) verifyScan(c *gin.Context) {
	id, recs, err := s.history(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	body := gin.H{"scanId": id, "events": len(recs), "valid": true}
	var ve *event.VerifyError
	if err := event.Verify(scan.StreamName(id), recs); errors.As(err, &ve) {
		body["valid"], body["brokenAt"], body["reason"] = false, ve.Version, ve.Reason
	} else if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, body)
}
