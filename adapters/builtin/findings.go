package builtin

import (
	"fmt"

	"github.com/scanledger/scanledger/domain/analysis"
)

// prosCons turns the findings into sentences a person can act on. Each con names the
// photo by its position, because that is how the PWA shows photos, and says what to do.
func prosCons(req analysis.Request, photos []photo, notAssessed int) analysis.ProsCons {
	pc := analysis.ProsCons{Pros: []string{}, Cons: []string{}}
	good := 0
	for i := range photos {
		p := &photos[i]
		if p.good() {
			good++
		}
		pc.Cons = append(pc.Cons, photoCons(p)...)
	}
	switch {
	case good == 1 && len(photos) == 1:
		pc.Pros = append(pc.Pros, "The photo is well exposed and sharp")
	case good == len(photos):
		pc.Pros = append(pc.Pros, fmt.Sprintf("All %d photos are well exposed and sharp", good))
	case good > 0:
		pc.Pros = append(pc.Pros, fmt.Sprintf("%d of %d photos are well exposed and sharp", good, len(photos)))
	}
	covered := 0
	for ri, room := range req.Rooms {
		switch n := usableIn(photos, ri+1); {
		case len(room.Images) == 0:
			pc.Cons = append(pc.Cons, fmt.Sprintf("Room %d has no photos: add at least one", ri+1))
		case n == 0:
			pc.Cons = append(pc.Cons, fmt.Sprintf("Room %d has no usable photo: add one", ri+1))
		default:
			covered++
		}
	}
	if len(req.Rooms) > 1 && covered == len(req.Rooms) {
		pc.Pros = append(pc.Pros, fmt.Sprintf("Each of the %d rooms has a usable photo", covered))
	}
	if notAssessed > 0 {
		pc.Cons = append(pc.Cons, fmt.Sprintf(
			"%d checklist items were not assessed: this offline analysis checks photo quality only", notAssessed))
	}
	return pc
}

func photoCons(p *photo) []string {
	l := p.label()
	switch p.fault {
	case faultMissing:
		return []string{l + " is missing from storage: upload it again"}
	case faultUnreadable:
		return []string{fmt.Sprintf("%s could not be read (%s): upload it again as a JPEG or PNG photo", l, p.faultDetail)}
	case faultTooLarge:
		return []string{fmt.Sprintf("%s is too large to check (%s): upload a smaller copy", l, p.faultDetail)}
	}
	var cons []string
	q := p.q
	if q.Underexposed {
		cons = append(cons, fmt.Sprintf("%s is too dark (mean brightness %.0f of 255, %.0f%% of pixels black): retake it with more light",
			l, q.MeanLuma, 100*q.DarkFraction))
	}
	if q.Overexposed {
		cons = append(cons, fmt.Sprintf("%s is overexposed (mean brightness %.0f of 255, %.0f%% of pixels white): retake it away from direct light",
			l, q.MeanLuma, 100*q.BrightFraction))
	}
	if q.Blurry {
		cons = append(cons, fmt.Sprintf("%s is blurry (sharpness %.1f, below %.0f): retake it", l, q.Sharpness, blurThreshold))
	}
	if q.LowResolution {
		cons = append(cons, fmt.Sprintf("%s is low resolution (%d×%d pixels): retake it at the camera's full resolution",
			l, q.Width, q.Height))
	}
	if p.dupOf != nil {
		cons = append(cons, fmt.Sprintf("%s is a duplicate of %s: replace it with a different view", l, p.dupOf.label()))
	}
	return cons
}

func usableIn(photos []photo, room int) int {
	n := 0
	for i := range photos {
		if photos[i].room == room && photos[i].ok() {
			n++
		}
	}
	return n
}

// photoLines are the machine-readable findings of one photo, in the agents'
// "scope:item:value" summary form with the reserved item id "image_check":
// room:<roomId>:image_check:<imageId>:<finding>, finding "ok" when there is none.
func photoLines(p *photo) []string {
	var tokens []string
	switch {
	case !p.ok():
		tokens = []string{p.fault}
	default:
		if p.q.Underexposed {
			tokens = append(tokens, "underexposed")
		}
		if p.q.Overexposed {
			tokens = append(tokens, "overexposed")
		}
		if p.q.Blurry {
			tokens = append(tokens, "blurry")
		}
		if p.q.LowResolution {
			tokens = append(tokens, "low_resolution")
		}
		if p.dupOf != nil {
			tokens = append(tokens, "duplicate_of:"+p.dupOf.imageID)
		}
		if len(tokens) == 0 {
			tokens = []string{"ok"}
		}
	}
	lines := make([]string, len(tokens))
	for i, t := range tokens {
		lines[i] = fmt.Sprintf("room:%s:image_check:%s:%s", p.roomID, p.imageID, t)
	}
	return lines
}
