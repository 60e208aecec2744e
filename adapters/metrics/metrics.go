// Package metrics exposes scanledger's operational figures in the Prometheus format
// (GET /metrics). Most figures are read from the parts' own counters when Prometheus
// scrapes (projection lag and parked events, worker and relay counters, live
// connections), so the parts stay free of any metrics library; latencies, which need
// every observation, come from thin wrappers around the event store and the analyzer
// and from the hooks the API and the command handler offer.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/worker"
)

// Projection is one projection's state when scraped.
type Projection struct {
	Name string
	// LagEvents counts events recorded after its checkpoint; LagSeconds is how long
	// the oldest of them has waited (0 when caught up).
	LagEvents  int
	LagSeconds float64
	// Parked counts its parked events, as stored.
	Parked int
	// Local is true when this process runs the projection; Running and Applied are
	// then its runner's.
	Local   bool
	Running bool
	Applied uint64
}

// Metrics is the registry. The sources are read at every scrape; a nil source is a
// part this process does not run, and its figures are left out. Set them before the
// first scrape.
type Metrics struct {
	Projections func(ctx context.Context) ([]Projection, error)
	Worker      func() worker.Stats
	// Live returns the live connections open now by transport.
	Live func() map[string]int
	// Relay returns the messages passed to live transports and the clients ended for
	// falling behind, since start.
	Relay func() (sent, slow uint64)
	// ScrapeTimeout bounds the database reads of one scrape (default 5 s).
	ScrapeTimeout time.Duration

	reg              *prometheus.Registry
	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	appends          *prometheus.CounterVec
	appendedEvents   prometheus.Counter
	appendDuration   prometheus.Histogram
	commandDuration  *prometheus.HistogramVec
	analyzerCalls    prometheus.Counter
	analyzerErrors   *prometheus.CounterVec
	analyzerDuration prometheus.Histogram
	scrapeErrors     prometheus.Counter
}

// New returns a registry with the process and Go runtime collectors and every
// scanledger metric.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = counterVec("scanledger_http_requests_total",
		"HTTP requests answered, by method, route template and status.",
		"method", "route", "status")
	m.requestDuration = histogramVec("scanledger_http_request_duration_seconds",
		"Time to answer an HTTP request, by method and route template (live streams: how long they stayed open).",
		prometheus.DefBuckets, "method", "route")
	m.appends = counterVec("scanledger_event_appends_total",
		"Appends to the event store by outcome (ok, or the error code: conflict, unavailable, ...).",
		"outcome")
	m.appendedEvents = counter("scanledger_events_appended_total",
		"Events appended to the event store.")
	m.appendDuration = histogram("scanledger_event_append_duration_seconds",
		"Time an append to the event store took, failed ones included.",
		prometheus.ExponentialBuckets(0.0005, 2, 14))
	m.commandDuration = histogramVec("scanledger_command_duration_seconds",
		"Time a scan command took (load, decide, append, retries), by outcome (ok or the error code).",
		prometheus.ExponentialBuckets(0.0005, 2, 14), "outcome")
	m.analyzerCalls = counter("scanledger_analyzer_calls_total",
		"Analyses asked of the analyzer.")
	m.analyzerErrors = counterVec("scanledger_analyzer_errors_total",
		"Analyses that failed, by the analyzer's error code.",
		"code")
	m.analyzerDuration = histogram("scanledger_analyzer_duration_seconds",
		"Time one analysis took, failed ones included.",
		prometheus.ExponentialBuckets(0.05, 2, 14))
	m.scrapeErrors = counter("scanledger_metrics_scrape_errors_total",
		"Scrapes that could not read the projections' state (the database did not answer).")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.requestDuration, m.appends, m.appendedEvents, m.appendDuration,
		m.commandDuration, m.analyzerCalls, m.analyzerErrors, m.analyzerDuration, m.scrapeErrors,
		scraped{m},
	)
	return m
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func histogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}

// Handler serves the exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest counts one answered HTTP request (httpapi.Config.OnRequest).
func (m *Metrics) ObserveRequest(method, route string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// ObserveCommand records one scan command (scan.Handler.Observe).
func (m *Metrics) ObserveCommand(took time.Duration, err error) {
	m.commandDuration.WithLabelValues(outcome(err)).Observe(took.Seconds())
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, event.ErrWrongExpectedVersion):
		return domain.ECONFLICT
	}
	return domain.ErrorCode(err)
}

// Store wraps an event store so that its appends are counted and timed.
func (m *Metrics) Store(s event.Store) event.Store { return timedStore{s, m} }

type timedStore struct {
	event.Store
	m *Metrics
}

func (s timedStore) Append(ctx context.Context, stream string, expected int64, events []event.Data) (event.AppendResult, error) {
	began := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events)
	s.m.appendDuration.Observe(time.Since(began).Seconds())
	s.m.appends.WithLabelValues(outcome(err)).Inc()
	if err == nil {
		s.m.appendedEvents.Add(float64(len(events)))
	}
	return res, err
}

// Analyzer wraps an analyzer so that its calls, errors and latency are recorded.
func (m *Metrics) Analyzer(a analysis.Analyzer) analysis.Analyzer { return timedAnalyzer{a, m} }

type timedAnalyzer struct {
	analysis.Analyzer
	m *Metrics
}

func (a timedAnalyzer) Analyze(ctx context.Context, req analysis.Request, report func(analysis.Progress)) (*analysis.Response, error) {
	began := time.Now()
	a.m.analyzerCalls.Inc()
	resp, err := a.Analyzer.Analyze(ctx, req, report)
	a.m.analyzerDuration.Observe(time.Since(began).Seconds())
	if err != nil {
		code := "other"
		var ae *analysis.Error
		switch {
		case errors.As(err, &ae):
			code = ae.Code
		case errors.Is(err, context.DeadlineExceeded):
			code = "deadline"
		case errors.Is(err, context.Canceled):
			code = "canceled"
		}
		a.m.analyzerErrors.WithLabelValues(code).Inc()
	}
	return resp, err
}
