package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/scan"
)

// uploadImages implements POST /scans/:scanId/images (contract 1.5 item 9): multipart
// with repeated "images" file parts, an optional "address" and an optional "rooms" JSON
// string [{"imageIndices":["0","1"]}, ...]. Photos stream straight into the blob store
// (never whole in memory) under keys we choose, with their type sniffed from the bytes.
// The ImagesUploaded event is appended only after every photo is stored, and a failed
// upload removes what it stored, so nothing half-done is ever visible.
func (s *Server) uploadImages(c *gin.Context) {
	id, userID, found := s.callerScan(c)
	if !found {
		return
	}
	ctx := c.Request.Context()

	// Fail fast, before reading megabytes, when the upload cannot be accepted.
	cur, err := s.Scans.Load(ctx, id)
	if err == nil {
		err = cur.OwnedBy(userID)
	}
	if err == nil {
		err = cur.AcceptsImages()
	}
	if err != nil {
		s.writeError(c, err)
		return
	}

	uploadID := domain.NewID()
	prefix := fmt.Sprintf("scans/%s/%s/", id, uploadID)
	form, err := s.readUpload(ctx, c, prefix)
	if err != nil {
		s.cleanup(prefix)
		s.writeError(c, err)
		return
	}
	rooms, err := groupRooms(form.images, form.rooms, form.roomsSet)
	if err != nil {
		s.cleanup(prefix)
		s.writeError(c, err)
		return
	}
	res, err := s.Scans.Execute(ctx, id, meta(c), func(sc *scan.Scan) error {
		if err := sc.OwnedBy(userID); err != nil {
			return err
		}
		return sc.UploadImages(rooms, form.address)
	})
	if err != nil {
		s.cleanup(prefix)
		s.writeError(c, err)
		return
	}
	// The previous upload's photos are replaced: remove them (the original never did).
	for _, old := range uploadPrefixes(cur.Rooms) {
		if old != prefix {
			if err := s.Blobs.DeletePrefix(context.WithoutCancel(ctx), old); err != nil {
				s.log.Warn("remove replaced photos", "prefix", old, "err", err)
			}
		}
	}
	ok(c, http.StatusCreated, gin.H{
		"scanId":      id,
		"roomsCount":  len(res.Scan.Rooms),
		"imagesCount": len(form.images),
		"message":     "Images uploaded successfully",
	})
}

type uploadForm struct {
	images   []blob.Info
	address  string
	rooms    string
	roomsSet bool
}

func (s *Server) readUpload(ctx context.Context, c *gin.Context, prefix string) (*uploadForm, error) {
	ct, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return nil, domain.Errorf(domain.EINVALID, "Request must be multipart/form-data")
	}
	// Bound the whole body: every photo at its limit plus the text fields.
	limit := int64(s.MaxImages)*s.MaxImageBytes + 1<<20
	body := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	mr := multipart.NewReader(body, params["boundary"])
	form := &uploadForm{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err)
		}
		name := part.FormName()
		switch {
		case name == "images":
			if len(form.images) >= s.MaxImages {
				return nil, domain.Errorf(domain.ETOOLARGE, "Too many images (at most %d per upload)", s.MaxImages)
			}
			src := &clientBody{r: part}
			info, err := s.Blobs.Put(ctx, prefix+domain.NewID(), src, s.MaxImageBytes)
			if err != nil {
				if domain.ErrorCode(err) == domain.ETOOLARGE {
					return nil, domain.Errorf(domain.ETOOLARGE, "Image %d is larger than %d bytes", len(form.images), s.MaxImageBytes)
				}
				if domain.ErrorCode(err) == domain.EUNSUPPORTED {
					return nil, domain.Errorf(domain.EUNSUPPORTED, "Image %d is not a supported image (jpeg, png, webp, gif, bmp, tiff)", len(form.images))
				}
				if src.err != nil {
					return nil, bodyError(src.err)
				}
				if ctx.Err() != nil {
					return nil, bodyError(ctx.Err())
				}
				// Reading the client's bytes went fine, so storing them failed: a
				// server fault (a full disk is 507, an unreachable store 503), never
				// "malformed".
				switch domain.ErrorCode(err) {
				case domain.ENOSPACE, domain.EUNAVAILABLE:
					return nil, err
				}
				return nil, fmt.Errorf("%w: %w", domain.Errorf(domain.EINTERNAL, "Could not store image %d", len(form.images)), err)
			}
			form.images = append(form.images, info)
		case part.FileName() != "":
			return nil, domain.Errorf(domain.EINVALID, "Unexpected field %s", name)
		case name == "address":
			v, err := readField(part, maxAddressLen)
			if err != nil {
				return nil, err
			}
			form.address = strings.TrimSpace(v)
		case name == "rooms":
			v, err := readField(part, 64<<10)
			if err != nil {
				return nil, err
			}
			form.rooms, form.roomsSet = v, true
		default:
			return nil, domain.Errorf(domain.EINVALID, "property %s should not exist", name)
		}
	}
	// No photos at all is the aggregate's "No images provided" (UploadImages).
	return form, nil
}

func readField(p *multipart.Part, max int64) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, max+1))
	if err != nil {
		return "", bodyError(err)
	}
	if int64(len(b)) > max {
		return "", domain.Errorf(domain.EINVALID, "%s must be shorter than or equal to %d characters", p.FormName(), max)
	}
	return string(b), nil
}

// clientBody remembers the first error reading a part of the client's body, so a failed
// Put can be told apart: the client's bytes broke (4xx) or storing them did (5xx).
type clientBody struct {
	r   io.Reader
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return domain.Errorf(domain.ETOOLARGE, "Upload too large")
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return domain.Errorf(domain.EINVALID, "Malformed multipart body")
}

func (s *Server) cleanup(prefix string) {
	if err := s.Blobs.DeletePrefix(context.Background(), prefix); err != nil {
		s.log.Warn("remove photos of a failed upload", "prefix", prefix, "err", err)
	}
}

// groupRooms builds the rooms of an upload from the "rooms" field (see ParseRooms).
// Unlike the original, a photo that no room references is an error rather than a
// silently orphaned file.
func groupRooms(images []blob.Info, roomsJSON string, set bool) ([]scan.Room, error) {
	groups := ParseRooms(roomsJSON, set, len(images))
	used := make([]bool, len(images))
	rooms := make([]scan.Room, len(groups))
	for i, g := range groups {
		r := scan.Room{RoomID: domain.NewID(), Ordinal: i, Label: "Room " + strconv.Itoa(i+1), Images: []scan.Image{}}
		for _, idx := range g {
			im := images[idx]
			used[idx] = true
			r.Images = append(r.Images, scan.Image{ImageID: domain.NewID(), BlobKey: im.Key,
				ContentType: im.ContentType, Bytes: im.Size, SHA256: im.SHA256})
		}
		rooms[i] = r
	}
	for i, u := range used {
		if !u {
			return nil, domain.Errorf(domain.EINVALID, "Image %d is not assigned to any room", i)
		}
	}
	return rooms, nil
}

// ParseRooms reads the upload's "rooms" field the way the original backend did: a JSON
// array of {"imageIndices": [...]} whose indices (numbers or numeric strings) point into
// the n uploaded files. Unparseable JSON, a non-array or no field at all means one room
// with every image; a malformed entry is an empty room; unknown indices are dropped.
// It returns each room's image indices, in order.
func ParseRooms(roomsJSON string, set bool, n int) [][]int {
	var entries []json.RawMessage
	if !set || json.Unmarshal([]byte(roomsJSON), &entries) != nil || entries == nil {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	groups := make([][]int, 0, len(entries))
	for _, e := range entries {
		groups = append(groups, parseIndices(e, n))
	}
	return groups
}

func parseIndices(entry json.RawMessage, n int) []int {
	var obj struct {
		ImageIndices []json.RawMessage `json:"imageIndices"`
	}
	if json.Unmarshal(entry, &obj) != nil {
		return nil
	}
	var out []int
	for _, raw := range obj.ImageIndices {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		var idx int
		switch v := v.(type) {
		case string:
			i, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				continue
			}
			idx = i
		case float64:
			if v != float64(int(v)) {
				continue
			}
			idx = int(v)
		default:
			continue
		}
		if idx >= 0 && idx < n {
			out = append(out, idx)
		}
	}
	return out
}

// uploadPrefixes lists the upload folders the rooms' photos live in.
func uploadPrefixes(rooms []scan.Room) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rooms {
		for _, im := range r.Images {
			p := path.Dir(im.BlobKey) + "/"
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
