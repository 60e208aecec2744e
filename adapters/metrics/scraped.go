package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scraped collects the figures read from the parts when Prometheus scrapes.
type scraped struct{ m *Metrics }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	lagEventsDesc  = desc("scanledger_projection_lag_events", "Events recorded after the projection's checkpoint.", "projection")
	lagSecondsDesc = desc("scanledger_projection_lag_seconds", "How long the oldest event the projection has not applied has waited (0: caught up).", "projection")
	parkedDesc     = desc("scanledger_projection_parked_events", "Events the projection gave up on (parked), as stored.", "projection")
	runningDesc    = desc("scanledger_projection_running", "1 while this process runs the projection, 0 while it is stopped (restarting after a failure).", "projection")
	appliedDesc    = desc("scanledger_projection_applied_events_total", "Events this process applied to the projection.", "projection")

	jobsClaimedDesc = desc("scanledger_worker_jobs_claimed_total", "Scan jobs this worker claimed.")
	jobsRunningDesc = desc("scanledger_worker_jobs_running", "Scan jobs under way on this worker.")
	attemptsDesc    = desc("scanledger_worker_attempts_total", "Attempts this worker ended, by outcome: completed, retried, failed, taken_over (a lost worker's), handed_back (shutdown).", "outcome")
	renewalsDesc    = desc("scanledger_worker_lease_renewals_total", "Job leases this worker extended.")
	leasesLostDesc  = desc("scanledger_worker_leases_lost_total", "Jobs this worker stopped because their lease was lost.")

	liveDesc = desc("scanledger_live_connections", "Live connections open on this instance, by transport.", "transport")
	sentDesc = desc("scanledger_live_messages_sent_total", "Live messages passed to the transports.")
	slowDesc = desc("scanledger_live_slow_disconnects_total", "Live clients disconnected because they fell behind.")
)

func (c scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lagEventsDesc, lagSecondsDesc, parkedDesc, runningDesc, appliedDesc,
		jobsClaimedDesc, jobsRunningDesc, attemptsDesc, renewalsDesc, leasesLostDesc, liveDesc, sentDesc, slowDesc} {
		ch <- d
	}
}

func (c scraped) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if m.Projections != nil {
		timeout := m.ScrapeTimeout
		if timeout <= 0 {
			timeout = defaultScrapeTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		ps, err := m.Projections(ctx)
		cancel()
		if err != nil {
			m.scrapeErrors.Inc()
		}
		for _, p := range ps {
			gauge(lagEventsDesc, float64(p.LagEvents), p.Name)
			gauge(lagSecondsDesc, p.LagSeconds, p.Name)
			gauge(parkedDesc, float64(p.Parked), p.Name)
			if p.Local {
				running := 0.0
				if p.Running {
					running = 1
				}
				gauge(runningDesc, running, p.Name)
				counter(appliedDesc, float64(p.Applied), p.Name)
			}
		}
	}
	if m.Worker != nil {
		s := m.Worker()
		counter(jobsClaimedDesc, float64(s.Claimed))
		gauge(jobsRunningDesc, float64(s.Running))
		for outcome, n := range map[string]uint64{"completed": s.Completed, "retried": s.Retried, "failed": s.Failed,
			"taken_over": s.TakenOver, "handed_back": s.HandedBack} {
			counter(attemptsDesc, float64(n), outcome)
		}
		counter(renewalsDesc, float64(s.LeaseRenewals))
		counter(leasesLostDesc, float64(s.LeasesLost))
	}
	if m.Live != nil {
		for transport, n := range m.Live() {
			gauge(liveDesc, float64(n), transport)
		}
	}
	if m.Relay != nil {
		sent, slow := m.Relay()
		counter(sentDesc, float64(sent))
		counter(slowDesc, float64(slow))
	}
}

const defaultScrapeTimeout = 5 * time.Second
