package builtin

import (
	"fmt"
	"strings"
)

// Why a photo could not be checked; the values are the summary-line tokens.
const (
	faultMissing    = "missing"
	faultUnreadable = "unreadable"
	faultTooLarge   = "too_large"
)

// photo is one uploaded image and what the checks found.
type photo struct {
	room, index     int // 1-based positions, because people read the findings
	roomID, imageID string
	q               Quality
	fault           string // why it could not be checked; "" when it was
	faultDetail     string
	dupOf           *photo // an earlier photo of the scan that is the same shot
}

func (p *photo) ok() bool { return p.fault == "" }

func (p *photo) label() string { return fmt.Sprintf("Room %d, photo %d", p.room, p.index) }

// good reports whether the photo passed every quality check; a duplicate can still
// be a good photo, it is just not a new one.
func (p *photo) good() bool {
	return p.ok() && !p.q.Underexposed && !p.q.Overexposed && !p.q.Blurry && !p.q.LowResolution
}

func usable(photos []photo) int {
	n := 0
	for i := range photos {
		if photos[i].ok() {
			n++
		}
	}
	return n
}

// markDuplicates links every photo to the first earlier photo of the scan, in any
// room, whose hash is within duplicateDistance. Comparing against the first match
// keeps a burst of three shots reported as two duplicates of one original.
func markDuplicates(photos []photo) {
	for j := range photos {
		if !photos[j].ok() {
			continue
		}
		for i := range j {
			if photos[i].ok() && photos[i].dupOf == nil &&
				hamming(photos[i].q.Hash, photos[j].q.Hash) <= duplicateDistance {
				photos[j].dupOf = &photos[i]
				break
			}
		}
	}
}

func noUsableDetail(photos []photo) string {
	if len(photos) == 0 {
		return "the scan has no photos"
	}
	parts := make([]string, 0, len(photos))
	for i := range photos {
		parts = append(parts, fmt.Sprintf("%s: %s", photos[i].label(), photos[i].faultDetail))
	}
	return "no photo could be checked (" + strings.Join(parts, "; ") + ")"
}
