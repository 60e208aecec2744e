// Package agents is the analysis.Analyzer that calls the Python agents-service over HTTP
// with its exact contract (contracts/housescanner.md section 5): POST
// {base}/v1/scan/run with {"rooms","house_checklist","rooms_checklist",
// "products_checklist"} and the section 5.4 response decoded into analysis.Response.
//
// It fixes what the original backend's client got wrong (section 9 items 11 and 20): the
// service's own error detail is kept instead of "Python agents service unavailable", and
// only failures a new try can cure are retried, so a 4xx or 422 costs one call, not six.
package agents

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scanledger/scanledger/domain/analysis"
)

// Error codes of the *analysis.Error values Analyze returns (besides "agents_http_<status>"
// for a 4xx the service refused).
const (
	CodeUnavailable   = "agents_unavailable"   // retryable: every try failed with network trouble, a timeout, 429 or 5xx
	CodeTimeout       = "agents_timeout"       // retryable: ctx's deadline passed
	CodeCanceled      = "agents_canceled"      // retryable: ctx was canceled
	CodeBadResponse   = "agents_bad_response"  // a 200 whose body is not the section 5.4 JSON
	CodeBadRequest    = "agents_bad_request"   // the Request cannot be encoded (a checklist is not JSON)
	CodeMisconfigured = "agents_misconfigured" // the base URL is unusable
)

// Defaults. The per-try deadline is the original backend's PYTHON_AGENTS_TIMEOUT.
const (
	defaultCallTimeout = 300 * time.Second
	defaultMaxTries    = 3
	defaultBackoffBase = time.Second
	defaultBackoffMax  = 30 * time.Second
	defaultTick        = 5 * time.Second
	// The service makes its LLM calls one after another (section 5.5); gpt-4o-mini with
	// images takes a few seconds per call.
	defaultPerLLMCall = 6 * time.Second
	healthTimeout     = 10 * time.Second

	maxResponseBytes  = 64 << 20 // a 5.4 body is a few hundred KB; more is not the service
	maxErrorBodyBytes = 64 << 10
	maxDetailRunes    = 2000 // Detail lands in a Failed event; keep it readable
)

// Clock is the time source for waits between tries, progress ticks and ETAs. Per-try
// deadlines use real time through the context, because net/http honours nothing else.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Client calls one agents-service. It is safe for concurrent use.
//
// Set its exported fields before the first call; zero (or out of range) means the
// default.
type Client struct {
	// CallTimeout bounds each try (default 300 s). A try that runs out is retried;
	// note that the service keeps working on an abandoned request and bills its LLM
	// calls.
	CallTimeout time.Duration
	// MaxTries is how many times one Analyze may call the service (default 3).
	MaxTries int
	// BackoffBase is the wait before the second try (default 1 s), doubled for each
	// later try with jitter; BackoffMax is the most any wait may be (default 30 s),
	// Retry-After included.
	BackoffBase, BackoffMax time.Duration
	// ProgressInterval is how often progress is reported while waiting (default 5 s).
	ProgressInterval time.Duration
	// TimePerLLMCall is how long one of the service's LLM calls is expected to take
	// (default 6 s); the ETA is that times the expected call count.
	TimePerLLMCall time.Duration
	// Clock replaces the real clock, for tests.
	Clock Clock

	runURL, healthURL string
	baseErr           error // why the base URL is unusable; every call reports it
	http              *http.Client
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (c *Client) callTimeout() time.Duration { return orDefault(c.CallTimeout, defaultCallTimeout) }
func (c *Client) maxTries() int              { return orDefault(c.MaxTries, defaultMaxTries) }
func (c *Client) backoffBase() time.Duration { return orDefault(c.BackoffBase, defaultBackoffBase) }
func (c *Client) backoffMax() time.Duration  { return orDefault(c.BackoffMax, defaultBackoffMax) }
func (c *Client) tick() time.Duration        { return orDefault(c.ProgressInterval, defaultTick) }
func (c *Client) perLLMCall() time.Duration  { return orDefault(c.TimePerLLMCall, defaultPerLLMCall) }

func (c *Client) clock() Clock {
	if c.Clock == nil {
		return realClock{}
	}
	return c.Clock
}

var _ analysis.Analyzer = (*Client)(nil)

// New returns a Client for the agents-service at baseURL (e.g. http://agents:8000; a path
// prefix is kept). An unusable baseURL is reported by every call as a non-retryable
// "agents_misconfigured" error.
func New(baseURL string) *Client {
	c := &Client{http: &http.Client{}}
	base := strings.TrimRight(baseURL, "/")
	u, err := url.Parse(base)
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("agents base URL %q: %w", baseURL, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		// Paths are appended to it, so a query or fragment would swallow them.
		c.baseErr = fmt.Errorf("agents base URL %q: want http(s)://host[:port][/prefix]", baseURL)
	}
	c.runURL, c.healthURL = base+"/v1/scan/run", base+"/health"
	return c
}

// Analyze sends req to the service and returns its analysis.
//
// report gets 20 "Analyzing images" at once and then, every progress interval, a
// percentage that rises toward 85 without reaching it, with an ETA. Failures are
// *analysis.Error values (possibly wrapping a cause: use errors.As):
//   - 4xx other than 429: non-retryable "agents_http_<status>", after one call, with the
//     service's detail (a 422's pydantic errors rendered one per line).
//   - 200 with a body that is not the 5.4 JSON: non-retryable "agents_bad_response".
//   - network errors, try timeouts, 429 and 5xx are retried up to the max tries; then a
//     retryable "agents_unavailable" with the last try's status and detail.
//   - ctx ending stops everything at once: retryable "agents_timeout" or
//     "agents_canceled", which also match ctx.Err() under errors.Is.
func (c *Client) Analyze(ctx context.Context, req analysis.Request, report func(analysis.Progress)) (*analysis.Response, error) {
	if c.baseErr != nil {
		return nil, &analysis.Error{Code: CodeMisconfigured, Detail: c.baseErr.Error()}
	}
	body, err := encodeRequest(req)
	if err != nil {
		return nil, &analysis.Error{Code: CodeBadRequest, Detail: err.Error()}
	}
	if report == nil {
		report = func(analysis.Progress) {}
	}
	prog := startProgress(c.clock(), c.tick(), time.Duration(expectedLLMCalls(req))*c.perLLMCall(), report)
	defer prog.stop()

	var last *tryError
	for try := 1; ; try++ {
		data, terr := c.try(ctx, body)
		if terr == nil {
			resp, err := decodeResponse(data, req)
			if err != nil {
				return nil, &analysis.Error{Code: CodeBadResponse, Detail: clip(err.Error())}
			}
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, stopped(ctx, fmt.Sprintf("during try %d", try), last)
		}
		if !terr.retryable {
			return nil, terr.final()
		}
		last = terr
		if try >= c.maxTries() {
			return nil, withCause(&analysis.Error{
				Code:      CodeUnavailable,
				Detail:    clip(fmt.Sprintf("gave up after %d tries; last: %s", try, last.detail)),
				Retryable: true,
			}, last.cause)
		}
		wait := c.backoff(try, last.retryAfter)
		prog.retrying(fmt.Sprintf("Retrying analysis (try %d of %d)", try+1, c.maxTries()), wait)
		select {
		case <-ctx.Done():
			return nil, stopped(ctx, fmt.Sprintf("while waiting to retry after try %d", try), last)
		case <-c.clock().After(wait):
		}
	}
}

// Health calls GET {base}/health and returns nil when the service answers 2xx. It gives
// up after 10 s when ctx has no earlier deadline, as a health check must not hang.
func (c *Client) Health(ctx context.Context) error {
	if c.baseErr != nil {
		return c.baseErr
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.healthURL, nil)
	if err != nil {
		return fmt.Errorf("agents health: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("agents health: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("agents health: %s", describe(resp.StatusCode, data))
	}
	return nil
}

// tryError is why one try failed.
type tryError struct {
	code       string // "" means agents_http_<status>
	status     int    // 0 when no HTTP answer came
	detail     string
	retryable  bool
	retryAfter time.Duration
	cause      error
}

func (t *tryError) final() error {
	code := t.code
	if code == "" {
		code = "agents_http_" + strconv.Itoa(t.status)
	}
	return withCause(&analysis.Error{Code: code, Detail: clip(t.detail)}, t.cause)
}

// try makes one call. It returns the body of a 2xx answer.
func (c *Client) try(ctx context.Context, body []byte) ([]byte, *tryError) {
	tctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodPost, c.runURL, bytes.NewReader(body))
	if err != nil {
		return nil, &tryError{code: CodeMisconfigured, detail: err.Error(), cause: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(tctx, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
		if err != nil {
			return nil, c.transportError(tctx, err) // e.g. EOF mid-response: the next try may get it all
		}
		if len(data) > maxResponseBytes {
			return nil, &tryError{code: CodeBadResponse, detail: fmt.Sprintf("response larger than %d bytes", maxResponseBytes)}
		}
		return data, nil
	}
	// A failure to read the rest of an error body changes nothing: the status decides.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	t := &tryError{status: resp.StatusCode, detail: describe(resp.StatusCode, data)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		t.retryable = true
		t.retryAfter = retryAfter(resp.Header.Get("Retry-After"), c.clock().Now())
	}
	return nil, t
}

// transportError classifies an error that left no HTTP status.
func (c *Client) transportError(tctx context.Context, err error) *tryError {
	if errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return &tryError{detail: fmt.Sprintf("no answer within %s", c.callTimeout()), retryable: true, cause: err}
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		// A certificate the client does not trust stays untrusted on the next try.
		return &tryError{code: CodeMisconfigured, detail: "TLS: " + err.Error(), cause: err}
	}
	return &tryError{detail: "network error: " + err.Error(), retryable: true, cause: err}
}

// backoff is the wait after failed try n: base·2^(n-1), capped, with "equal jitter" (half
// fixed, half random) so many workers failing together do not come back together. A
// Retry-After from the service is honoured when longer, within the same cap.
func (c *Client) backoff(n int, retryAfter time.Duration) time.Duration {
	d := c.backoffBase()
	for i := 1; i < n && d < c.backoffMax(); i++ {
		d *= 2
	}
	d = min(d, c.backoffMax())
	d = d/2 + rand.N(d/2+1)
	return min(max(d, retryAfter), c.backoffMax())
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// stopped is the error for ctx ending at when; last is the latest retryable failure, if
// any, kept so the reason the analysis was slow is not lost.
func stopped(ctx context.Context, when string, last *tryError) error {
	code, what := CodeCanceled, "canceled"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		code, what = CodeTimeout, "deadline passed"
	}
	detail := fmt.Sprintf("analysis %s %s", what, when)
	var cause error = ctx.Err()
	if last != nil {
		detail += "; last failure: " + last.detail
		if last.cause != nil {
			cause = errors.Join(ctx.Err(), last.cause)
		}
	}
	return withCause(&analysis.Error{Code: code, Detail: clip(detail), Retryable: true}, cause)
}

// withCause keeps cause reachable through errors.Is/As next to the *analysis.Error, the
// same way adapters/builtin does.
func withCause(e *analysis.Error, cause error) error {
	if cause == nil {
		return e
	}
	return fmt.Errorf("%w: %w", e, cause)
}

// clip bounds a detail to maxDetailRunes.
func clip(s string) string {
	if r := []rune(s); len(r) > maxDetailRunes {
		return string(r[:maxDetailRunes]) + "…"
	}
	return s
}
