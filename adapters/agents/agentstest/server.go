// Package agentstest is a fake agents-service for tests anywhere in scanledger. It speaks
// the contract of contracts/housescanner.md section 5 and is as strict as the real
// FastAPI/pydantic service, so code that passes against it sends nothing the real service
// would reject:
//
//   - POST /v1/scan/run: the body must be JSON (Content-Type application/json) with all
//     four keys; schema errors get a 422 whose body mirrors FastAPI's
//     {"detail":[{"type","loc","msg","input","url"}]}, and "rooms": [] gets the 400
//     {"detail":"At least one room must be provided"}. Validation runs before any
//     scripted Behaviour, as FastAPI validates before the route runs.
//   - The pipeline (Succeed) fetches every image URL with a plain GET, exactly as
//     section 5.5 describes, skips what the real fetcher would skip, and answers 500
//     "Internal server error: No images were successfully fetched" when nothing is left.
//   - Checklist items may only carry id, type, text, title, description, options and
//     subitems, and need a type. The contract says a bad item makes the scan fail with
//     500 and a pydantic message, so that is what the fake answers (never 422). The real
//     service is laxer in two corners that would hide bugs, and the fake deliberately is
//     not: it checks every item of every type up front (the real one only checks the
//     types it detected), and a bad room or product item fails the whole run (the real
//     one silently drops the room).
//   - GET /health and GET /v1/scan/health answer as the real service does.
//
// What the service answers per call is scripted with Behaviours; the default answers
// every call with a realistic section 5.4 response built from the request.
package agentstest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a running fake agents-service. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give the client, e.g. http://127.0.0.1:41234.
	URL string

	srv     *httptest.Server
	fetcher *http.Client
	// closing ends waits in Delay and Hold, so closing the server never hangs on them.
	closing chan struct{}

	mu          sync.Mutex
	script      []Behaviour
	scriptStart int // calls already made when script was set
	calls       []*Call
	healthCalls int
	images      map[string]servedImage
}

// Call is one POST /v1/scan/run the server received.
type Call struct {
	N        int         // 1 for the first call
	Received time.Time   // when the request arrived
	Header   http.Header // request headers
	Body     []byte      // request body as sent
	Status   int         // status answered; 0 when the connection was dropped or the call is running
	Answer   []byte      // body answered (a truncated answer holds what was sent)
	Fetches  []Fetch     // image fetches made for this call, in request order
}

// Fetch is one image URL the pipeline tried to fetch.
type Fetch struct {
	RoomID      string
	URL         string
	UserAgent   string // the header the fake sent, as the real fetcher does
	Status      int    // HTTP status; 0 when no response came
	ContentType string
	Size        int    // bytes read
	SHA256      string // hex digest of the bytes read, to compare with what was uploaded
	OK          bool   // the image passed every check the real fetcher makes
	Reason      string // why the image was skipped, when it was
}

type servedImage struct {
	contentType string
	data        []byte
}

// NewServer starts a fake agents-service that is closed when the test ends. script
// scripts the answers from the first call on: call n gets script[n-1], and the last
// Behaviour answers every call after it; with none, every call succeeds.
func NewServer(tb testing.TB, script ...Behaviour) *Server {
	tb.Helper()
	s := &Server{
		closing: make(chan struct{}),
		script:  []Behaviour{Succeed()},
		images:  map[string]servedImage{},
		fetcher: &http.Client{
			Timeout: fetchTimeout,
			// httpx does not follow redirects by default, so a redirect is a non-2xx answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{MaxConnsPerHost: 10},
		},
	}
	if len(script) > 0 {
		s.script = script
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/scan/run", s.handleRun)
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /v1/scan/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"service": "scan", "status": "healthy",
			"capabilities": []string{"image_url_processing", "custom_checklists", "full_pipeline"},
		})
	})
	mux.HandleFunc("GET /images/{name}", s.handleImage)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	tb.Cleanup(func() {
		close(s.closing)
		s.srv.Close()
		s.fetcher.CloseIdleConnections()
	})
	return s
}

// SetBehaviours scripts the answers from the next call on, as NewServer's script does from
// the first.
func (s *Server) SetBehaviours(b ...Behaviour) {
	if len(b) == 0 {
		b = []Behaviour{Succeed()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = b
	s.scriptStart = len(s.calls)
}

// Calls returns how many POST /v1/scan/run requests arrived, valid or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// HealthCalls returns how many GET /health requests arrived.
func (s *Server) HealthCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthCalls
}

// Requests returns a copy of every POST /v1/scan/run received so far, in arrival order.
func (s *Server) Requests() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
		out[i].Header = c.Header.Clone()
		out[i].Body = bytes.Clone(c.Body)
		out[i].Answer = bytes.Clone(c.Answer)
		out[i].Fetches = append([]Fetch(nil), c.Fetches...)
	}
	return out
}

// Fetches returns every image fetch of every call, in order.
func (s *Server) Fetches() []Fetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Fetch
	for _, c := range s.calls {
		out = append(out, c.Fetches...)
	}
	return out
}

// ServeImage makes the server serve data with the given Content-Type and returns its
// URL, so a test can hand the pipeline fetchable photos without a blob store.
func (s *Server) ServeImage(contentType string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strconv.Itoa(len(s.images) + 1)
	s.images[name] = servedImage{contentType: contentType, data: bytes.Clone(data)}
	return s.URL + "/images/" + name
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.healthCalls++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"status": "healthy", "service": "housecheck", "version": "2.0.0"})
}

func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	img, ok := s.images[r.PathValue("name")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", img.contentType)
	_, _ = w.Write(img.data)
}

func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(r.Body)
	s.mu.Lock()
	call := &Call{N: len(s.calls) + 1, Received: time.Now(), Header: r.Header.Clone(), Body: body}
	s.calls = append(s.calls, call)
	b := s.script[min(call.N-1-s.scriptStart, len(s.script)-1)]
	s.mu.Unlock()
	if b.serve == nil {
		b = Succeed() // a zero Behaviour{} means the default
	}

	x := &exchange{s: s, w: w, r: r, call: call}
	if r.Method != http.MethodPost {
		x.detail(http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if readErr != nil {
		return // the client went away mid-request; nobody is left to answer
	}
	req, status, detail := validate(r.Header.Get("Content-Type"), body)
	if status != 0 {
		x.detail(status, detail)
		return
	}
	x.req = req
	b.serve(x)
}

// exchange is one call being answered.
type exchange struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	call *Call
	req  *scanRequest
}

func (x *exchange) reply(status int, header http.Header, body []byte) {
	for k, v := range header {
		x.w.Header()[k] = v
	}
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body)
	x.s.mu.Lock()
	x.call.Status = status
	x.call.Answer = body
	x.s.mu.Unlock()
}

// detail answers FastAPI's error shape {"detail": ...}.
func (x *exchange) detail(status int, detail any) {
	x.replyJSON(status, nil, map[string]any{"detail": detail})
}

func (x *exchange) replyJSON(status int, header http.Header, v any) {
	body, err := marshal(v)
	if err != nil {
		// Only a Behaviour given an unencodable detail gets here; say so on the wire.
		body = fmt.Appendf(nil, `{"detail":"agentstest: cannot encode answer: %s"}`, strconv.Quote(err.Error()))
		status = http.StatusInternalServerError
	}
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/json")
	x.reply(status, header, body)
}

func (x *exchange) recordFetch(f Fetch) {
	x.s.mu.Lock()
	x.call.Fetches = append(x.call.Fetches, f)
	x.s.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := marshal(v) // only fixed maps of strings reach here
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
