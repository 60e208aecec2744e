package builtin

import (
	"fmt"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
)

// The worker reports 10 before calling Analyze and 90 and up after it returns, so
// the analyzer's own milestones live in between.
const (
	percentStart  = 20
	percentPhotos = 80 // when the last photo is checked
	percentDone   = 85
)

// progress turns "photo n of total checked" into non-decreasing percentages with an
// ETA from the measured time per photo, which is what decoding costs on this machine.
type progress struct {
	report func(analysis.Progress)
	total  int
	start  time.Time
}

func newProgress(report func(analysis.Progress), total int, start time.Time) *progress {
	p := &progress{report: report, total: total, start: start}
	stage := fmt.Sprintf("Checking %d photos", total)
	if total == 1 {
		stage = "Checking 1 photo"
	}
	p.send(analysis.Progress{Percent: percentStart, Stage: stage})
	return p
}

func (p *progress) photoDone(done int) {
	elapsed := time.Since(p.start)
	eta := elapsed / time.Duration(done) * time.Duration(p.total-done)
	p.send(analysis.Progress{
		Percent: percentStart + (percentPhotos-percentStart)*done/p.total,
		Stage:   fmt.Sprintf("Checked photo %d of %d", done, p.total),
		ETA:     eta,
	})
}

func (p *progress) finish() {
	p.send(analysis.Progress{Percent: percentDone, Stage: "Photo checks complete"})
}

func (p *progress) send(pr analysis.Progress) {
	if p.report != nil {
		p.report(pr)
	}
}
