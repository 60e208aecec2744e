package httpapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"
)

// The shape of GET /scans/:id/summary (contract section 7). The original created a
// placeholder row on GET and crashed with a 500 on every processed scan (its rooms
// are an object keyed by room id, not a list). Here the summary is computed on read,
// writes nothing, and works for processed and unprocessed scans alike.

type summaryImage struct {
	ID  string  `json:"id"`
	URL string  `json:"url"`
	Tag *string `json:"tag,omitempty"`
}

type summaryProduct struct {
	Name       string `json:"name"`
	ShouldStay *bool  `json:"shouldStay,omitempty"`
}

type summaryRoom struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	Types    []string         `json:"types"`
	Images   []summaryImage   `json:"images"`
	Products []summaryProduct `json:"products"`
}

type scanSummary struct {
	ID              string        `json:"id"`
	Address         *string       `json:"address,omitempty"`
	CreatedAt       string        `json:"createdAt"`
	Status          string        `json:"status"`
	Overview        *string       `json:"overview,omitempty"`
	Highlights      []string      `json:"highlights"`
	Recommendations []string      `json:"recommendations"`
	Gallery         []string      `json:"gallery"`
	TotalRooms      int           `json:"totalRooms"`
	TotalProducts   int           `json:"totalProducts"`
	Rooms           []summaryRoom `json:"rooms"`
	Decisions       []any         `json:"decisions"`
	Tests           []any         `json:"tests"`
}

// clientSummary is the part of the analyzer's client_summary the summary reads.
type clientSummary struct {
	Products map[string]struct {
		BooleansTrue []string          `json:"booleans_true"`
		Categoricals map[string]string `json:"categoricals"`
	} `json:"products"`
	ChecklistMetadata struct {
		Products map[string]struct {
			Title string `json:"title"`
		} `json:"products"`
	} `json:"checklist_metadata"`
}

const overviewPending = "Scan in progress. Detailed AI summary will appear here once processing completes."

// overviewWithout says why a scan has no summary yet: the original's "in progress"
// only while it is (or may soon be) processed, not for a scan that has no photos or
// whose processing failed.
func overviewWithout(status string, hasPhotos bool) string {
	switch {
	case !hasPhotos:
		return "No photos uploaded yet. Upload photos and start processing to get a summary."
	case status == "queued":
		return "Photos uploaded. Start processing to get a summary."
	case status == "failed":
		return "Processing failed, so there is no summary. Process the scan again to retry."
	}
	return overviewPending
}

func (s *Server) scanSummary(c *gin.Context) {
	sc, found := s.readableScan(c)
	if !found {
		return
	}
	ctx := c.Request.Context()
	out := scanSummary{ID: sc.ID, Address: sc.House.Address, CreatedAt: isoTime(sc.CreatedAt), Status: sc.Status,
		Highlights: []string{}, Recommendations: []string{}, Gallery: []string{}, Rooms: []summaryRoom{},
		Decisions: []any{}, Tests: []any{}}

	var cs clientSummary
	if sc.Summary != nil {
		_ = json.Unmarshal(sc.Summary.SummaryJSON, &cs) // a shape we cannot read shows no products
		var pc struct{ Pros, Cons []string }
		if json.Unmarshal(sc.Summary.ProsConsJSON, &pc) == nil {
			out.Highlights, out.Recommendations = nonNilStrings(pc.Pros), nonNilStrings(pc.Cons)
		}
	} else {
		o := overviewWithout(sc.Status, len(sc.Rooms) > 0)
		out.Overview = &o
	}
	seen := map[string]bool{}
	for _, r := range sc.Rooms {
		room := summaryRoom{ID: r.ID, Name: "Room " + itoa(r.Ordinal+1), Types: nonNilStrings(r.DetectedRoomTypes),
			Images: []summaryImage{}, Products: []summaryProduct{}}
		if r.Label != nil && *r.Label != "" {
			room.Name = *r.Label
		}
		for _, im := range r.Images {
			u, err := s.Blobs.SignedURL(ctx, im.BlobKey, s.URLTTL)
			if err != nil {
				s.writeError(c, err)
				return
			}
			room.Images = append(room.Images, summaryImage{ID: im.ID, URL: u, Tag: im.Tag})
			if !seen[im.BlobKey] {
				seen[im.BlobKey] = true
				out.Gallery = append(out.Gallery, u)
			}
		}
		// A product "is in the room" when the analysis answered anything about it.
		if p, ok := cs.Products[r.ID]; ok {
			names := map[string]bool{}
			for _, id := range p.BooleansTrue {
				names[id] = true
			}
			for id := range p.Categoricals {
				names[id] = true
			}
			for _, id := range sortedKeys(names) {
				name := id
				if m, ok := cs.ChecklistMetadata.Products[id]; ok && m.Title != "" {
					name = m.Title
				}
				room.Products = append(room.Products, summaryProduct{Name: name})
			}
		}
		out.TotalProducts += len(room.Products)
		out.Rooms = append(out.Rooms, room)
	}
	out.TotalRooms = len(out.Rooms)
	ok(c, http.StatusOK, out)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
