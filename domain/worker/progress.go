package worker

import (
	"context"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/scan"
)

// progress turns an analyzer's progress callbacks into ProgressReported events without
// ever blocking the analyzer: the callback stores the latest value and a single goroutine
// appends it. Reports that would not move progress forward, or come faster than
// minInterval, are coalesced.
type progress struct {
	w       *Worker
	job     Job
	mu      sync.Mutex
	stopped bool
	next    *analysis.Progress
	last    analysis.Progress
	kick    chan struct{}
	done    chan struct{}
	once    sync.Once
}

const minInterval = 500 * time.Millisecond

func newProgress(w *Worker, job Job) *progress {
	p := &progress{w: w, job: job, kick: make(chan struct{}, 1), done: make(chan struct{}), last: analysis.Progress{Percent: -1}}
	go p.loop()
	return p
}

func (p *progress) report(pr analysis.Progress) {
	if pr.Percent > 89 {
		pr.Percent = 89 // 90 and 100 belong to saving the result
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return // a late report after the analyzer returned is dropped
	}
	p.next = &pr
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// stop flushes the last report and ends the goroutine.
func (p *progress) stop() {
	p.once.Do(func() {
		p.mu.Lock()
		p.stopped = true
		close(p.kick)
		p.mu.Unlock()
		<-p.done
	})
}

func (p *progress) loop() {
	defer close(p.done)
	var lastWrite time.Time
	for range p.kick {
		if wait := minInterval - time.Since(lastWrite); wait > 0 && !lastWrite.IsZero() {
			time.Sleep(wait)
		}
		p.mu.Lock()
		pr := p.next
		p.next = nil
		p.mu.Unlock()
		if pr == nil || (pr.Percent <= p.last.Percent && pr.Stage == p.last.Stage) {
			continue
		}
		if pr.Percent < p.last.Percent {
			pr.Percent = p.last.Percent
		}
		var eta *int
		if pr.ETA > 0 {
			s := int(pr.ETA.Round(time.Second) / time.Second)
			eta = &s
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := p.w.Scans.Execute(ctx, p.job.ScanID, p.w.meta(p.job), func(s *scan.Scan) error {
			return s.ReportProgress(p.job.Attempt, pr.Percent, pr.Stage, eta)
		})
		cancel()
		if err != nil {
			p.w.Logger.Debug("progress not recorded", "scan", p.job.ScanID, "err", err)
			continue
		}
		p.last = *pr
		lastWrite = time.Now()
	}
}
