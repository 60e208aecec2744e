package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// client is the tiny API client behind `scanledger scan` and `scanledger scans`.
type client struct {
	base  string // http://host:port
	token string
	http  *http.Client
}

// clientFlags are the flags every client command shares: where the server is and who
// the caller is.
type clientFlags struct {
	server, token, dataDir *string
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		server:  fs.String("server", envOr("SCANLEDGER_SERVER", "http://127.0.0.1:3000"), "scanledger base URL ($SCANLEDGER_SERVER)"),
		token:   fs.String("token", os.Getenv("SCANLEDGER_TOKEN"), "access token ($SCANLEDGER_TOKEN); default: mint one with the server's secret from --data-dir"),
		dataDir: fs.String("data-dir", envOr("SCANLEDGER_DATA_DIR", "./var"), "the server's data dir, whose secret signs a token when none is given ($SCANLEDGER_DATA_DIR)"),
	}
}

// connect returns a client for the flags: the given token, or one minted for this
// machine's command-line user with the server's secret.
func (f clientFlags) connect(cmd string) (*client, error) {
	tok := *f.token
	if tok == "" {
		t, err := localToken(*f.dataDir)
		if errors.Is(err, errNoSecret) {
			return nil, fmt.Errorf("%s: no access token: %w.\n"+
				"Run this where `scanledger serve` runs, or point at the server's data dir with --data-dir DIR,\n"+
				"or pass a token with --token (or $SCANLEDGER_TOKEN); use --server URL when the server is not at %s",
				cmd, err, *f.server)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
		tok = t
	}
	return &client{base: strings.TrimRight(*f.server, "/"), token: tok, http: &http.Client{}}, nil
}

func (c *client) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return c.unreachable(err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Message any `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		msg := fmt.Sprint(e.Message)
		if e.Message == nil {
			msg = http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (the token is expired, or signed with another server's secret: check --server and --data-dir)"
		}
		return fmt.Errorf("the server refused %s %s: %s (HTTP %d)", method, path, msg, resp.StatusCode)
	}
	if out != nil {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return fmt.Errorf("%s %s: unreadable answer: %w", method, path, err)
		}
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

// unreachable says, for a request that got no answer, what to do about it.
func (c *client) unreachable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach the server at %s (is `scanledger serve` running? --server says where it is): %w", c.base, err)
}

// photoTypes are what the server accepts, by the sniffed type of the first bytes.
var photoTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/webp": true, "image/gif": true, "image/bmp": true}

// checkPhotos refuses, before anything is created on the server, every path that is
// not a photo the server would take, naming the file and why.
func checkPhotos(paths []string, maxBytes int64) error {
	var problems []string
	for _, p := range paths {
		if why := photoProblem(p, maxBytes); why != "" {
			problems = append(problems, p+": "+why)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("scan: nothing was sent:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func photoProblem(path string, maxBytes int64) string {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "not allowed to read it"
	case err != nil:
		return err.Error()
	case st.IsDir():
		return "is a folder; give the photos in it (e.g. " + filepath.Join(path, "*.jpg") + ")"
	case !st.Mode().IsRegular():
		return "not a regular file"
	case st.Size() == 0:
		return "empty file (0 bytes)"
	case st.Size() > maxBytes:
		return fmt.Sprintf("%s, larger than the server's limit of %s", humanBytes(st.Size()), humanBytes(maxBytes))
	}
	f, err := os.Open(path)
	if err != nil {
		return "cannot open it: " + errors.Unwrap(err).Error()
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if t := http.DetectContentType(head); !photoTypes[t] && !isTIFF(head) {
		return fmt.Sprintf("not a photo (its content is %s; jpeg, png, webp, gif, bmp or tiff are accepted)", strings.Split(t, ";")[0])
	}
	return ""
}

func isTIFF(b []byte) bool {
	return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// upload streams the photos as multipart without holding them in memory, one room per
// photo unless oneRoom.
func (c *client) upload(ctx context.Context, scanID string, photos []string, address string, oneRoom bool) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			var rooms []map[string][]string
			for i, p := range photos {
				if err := addFile(mw, p); err != nil {
					return err
				}
				if oneRoom {
					if len(rooms) == 0 {
						rooms = append(rooms, map[string][]string{"imageIndices": {}})
					}
					rooms[0]["imageIndices"] = append(rooms[0]["imageIndices"], strconv.Itoa(i))
				} else {
					rooms = append(rooms, map[string][]string{"imageIndices": {strconv.Itoa(i)}})
				}
			}
			rj, _ := json.Marshal(rooms)
			if err := mw.WriteField("rooms", string(rj)); err != nil {
				return err
			}
			if address != "" {
				if err := mw.WriteField("address", address); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return c.do(ctx, http.MethodPost, "/scans/"+scanID+"/images", mw.FormDataContentType(), pr, nil)
}

func addFile(mw *multipart.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	w, err := mw.CreateFormFile("images", filepath.Base(path))
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// parseInterspersed parses flags wherever they are among the arguments ("scan a.jpg
// --address X" as well as "scan --address X a.jpg"); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		consumed := args[:len(args)-fs.NArg()]
		args = fs.Args()
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(rest, args...), nil
		}
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// runScan is `scanledger scan PHOTO...`: check the photos, create a scan, upload,
// process, follow the progress live and print the summary. A scan that could not be
// uploaded is deleted again, so a failed run leaves nothing behind.
func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	address := fs.String("address", "", "the house's address")
	oneRoom := fs.Bool("one-room", false, "put every photo in one room (default: one room per photo)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up waiting for the result after this long")
	maxBytes := fs.Int64("max-photo-bytes", 20<<20, "largest photo the server takes (its --upload-max-bytes)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: scanledger scan [flags] PHOTO...")
		fs.PrintDefaults()
	}
	photos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(photos) == 0 {
		fs.Usage()
		return errors.New("scan: no photos given")
	}
	if err := checkPhotos(photos, *maxBytes); err != nil {
		return err
	}
	c, err := cf.connect("scan")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var created struct {
		ScanID string `json:"scanId"`
	}
	body, _ := json.Marshal(map[string]string{"address": *address})
	if err := c.do(ctx, http.MethodPost, "/scans", "application/json", bytes.NewReader(body), &created); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	id := created.ScanID
	processing := false
	defer func() {
		if err == nil || processing {
			return
		}
		// Nothing was processed: remove the scan, with a context of its own since ctx
		// may be what ran out.
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		if derr := c.do(dctx, http.MethodDelete, "/scans/"+id, "", nil, nil); derr != nil {
			err = fmt.Errorf("%w\n(scan %s could not be removed: %v)", err, id, derr)
		} else {
			err = fmt.Errorf("%w\n(scan %s was removed again)", err, id)
		}
	}()
	fmt.Fprintf(stdout, "scan %s created\n", id)
	if err := c.upload(ctx, id, photos, *address, *oneRoom); err != nil {
		return fmt.Errorf("scan: upload: %w", err)
	}
	fmt.Fprintf(stdout, "uploaded %d %s\n", len(photos), plural(len(photos), "photo", "photos"))

	// Follow before processing starts, so no event can slip by.
	f := &follower{c: c, scanID: id, bar: newProgressBar(stderr)}
	stream, err := f.open(ctx)
	if err != nil {
		return fmt.Errorf("scan: live progress: %w", err)
	}
	if err := c.do(ctx, http.MethodPost, "/scans/"+id+"/process", "application/json", strings.NewReader("{}"), nil); err != nil {
		stream.Close()
		return fmt.Errorf("scan: %w", err)
	}
	processing = true
	status, reason, err := f.wait(ctx, stream)
	f.bar.done()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("scan: no result within --timeout %s; the scan goes on: see `scanledger scans`", *timeout)
		}
		return fmt.Errorf("scan %s: %w", id, err)
	}
	if status == "failed" {
		return fmt.Errorf("scan %s failed: %s", id, reason)
	}
	return printSummary(ctx, c, id, stdout)
}

// follower follows one scan's live progress over SSE. When the stream ends (a server
// restart, a proxy cutting it) it reads the scan, which may have finished meanwhile,
// then reconnects with Last-Event-ID so nothing is missed or seen twice.
type follower struct {
	c      *client
	scanID string
	lastID string
	bar    *progressBar
}

// followIdle is how long a stream may stay silent before it is taken for dead (the server
// sends a heartbeat every 15 s by default).
const followIdle = 45 * time.Second

func (f *follower) open(ctx context.Context) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.c.base+"/api/v1/events?scanId="+f.scanID, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.c.token)
	req.Header.Set("Accept", "text/event-stream")
	if f.lastID != "" {
		req.Header.Set("Last-Event-ID", f.lastID)
	}
	resp, err := f.c.http.Do(req)
	if err != nil {
		return nil, f.c.unreachable(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("the server refused the live stream (HTTP %d)", resp.StatusCode)
	}
	return resp.Body, nil
}

// wait returns the scan's final status ("succeeded" or "failed") and the failure's
// reason, following the stream and falling back to reading the scan between streams.
func (f *follower) wait(ctx context.Context, stream io.ReadCloser) (status, reason string, err error) {
	backoff := 500 * time.Millisecond
	for {
		if stream != nil {
			status, reason = f.read(ctx, stream)
			stream.Close()
			if status != "" {
				return status, reason, nil
			}
		}
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		// The stream ended or could not open: the scan may have finished meanwhile.
		var s struct {
			Status string  `json:"status"`
			Error  *string `json:"error"`
		}
		if err := f.c.do(ctx, http.MethodGet, "/scans/"+f.scanID, "", nil, &s); err == nil {
			if s.Status == "succeeded" || s.Status == "failed" {
				if s.Error != nil {
					reason = *s.Error
				}
				return s.Status, reason, nil
			}
		} else if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		stream, _ = f.open(ctx)
		if stream != nil {
			backoff = 500 * time.Millisecond
		}
	}
}

// read handles the stream's events until the scan ends (its status is returned) or the
// stream does (empty status).
func (f *follower) read(ctx context.Context, stream io.ReadCloser) (status, reason string) {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stream)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	var id, event string
	var data strings.Builder
	idle := time.NewTimer(followIdle)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ""
		case <-idle.C:
			stream.Close() // ends the reader goroutine
			return "", ""
		case line, ok := <-lines:
			if !ok {
				return "", ""
			}
			idle.Reset(followIdle)
			switch {
			case strings.HasPrefix(line, "id:"):
				id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			case line == "":
				if id != "" {
					f.lastID = id
				}
				if status, reason := f.handle(event, []byte(data.String())); status != "" {
					return status, reason
				}
				id, event = "", ""
				data.Reset()
			}
		}
	}
}

func (f *follower) handle(event string, data []byte) (status, reason string) {
	var p struct {
		Progress   int    `json:"progress"`
		Stage      string `json:"stage"`
		ETASeconds int    `json:"etaSeconds"`
		Error      string `json:"error"`
	}
	_ = json.Unmarshal(data, &p)
	switch event {
	case "scan:processing":
		f.bar.draw(0, "Processing started", 0)
	case "scan:progress":
		f.bar.draw(p.Progress, p.Stage, p.ETASeconds)
	case "scan:failed":
		return "failed", p.Error
	case "scan:completed":
		f.bar.draw(100, "Complete", 0)
		return "succeeded", ""
	}
	return "", ""
}

// progressBar draws progress on a terminal as one line redrawn in place, within 80
// columns; anywhere else (a log, a pipe) it prints one plain line per change.
type progressBar struct {
	w        io.Writer
	terminal bool
	last     string
	width    int // of the line on screen
}

func newProgressBar(w io.Writer) *progressBar {
	b := &progressBar{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.terminal = true
		}
	}
	return b
}

// barColumns keeps the line within an 80-column terminal (the last column would wrap).
const barColumns = 79

func (b *progressBar) draw(pct int, stage string, eta int) {
	pct = max(0, min(pct, 100))
	text := fmt.Sprintf("%3d%% %s", pct, stage)
	if eta > 0 {
		text += fmt.Sprintf(" (about %ds left)", eta)
	}
	if text == b.last {
		return // the same state again (a resumed stream, the final 100%)
	}
	b.last = text
	if !b.terminal {
		fmt.Fprintln(b.w, text)
		return
	}
	const width = 20
	n := pct * width / 100
	line := fmt.Sprintf("[%s%s] %s", strings.Repeat("#", n), strings.Repeat("-", width-n), text)
	if len(line) > barColumns {
		line = line[:barColumns]
	}
	pad := max(b.width-len(line), 0)
	fmt.Fprintf(b.w, "\r%s%s", line, strings.Repeat(" ", pad))
	b.width = len(line)
}

func (b *progressBar) done() {
	if b.terminal && b.width > 0 {
		fmt.Fprintln(b.w)
		b.width = 0
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// builtinAgent is the name the built-in analyzer's one stage runs under.
const builtinAgent = "image checks"

func printSummary(ctx context.Context, c *client, id string, w io.Writer) error {
	var s struct {
		Status             string   `json:"status"`
		DetectedHouseTypes []string `json:"detectedHouseTypes"`
		Rooms              []struct {
			Label             string   `json:"label"`
			DetectedRoomTypes []string `json:"detectedRoomTypes"`
			Images            []any    `json:"images"`
		} `json:"rooms"`
		Summary *struct {
			ProsConsJSON struct {
				Pros []string `json:"pros"`
				Cons []string `json:"cons"`
			} `json:"prosConsJson"`
		} `json:"summary"`
		AgentRuns []struct {
			AgentName string `json:"agentName"`
		} `json:"agentRuns"`
	}
	if err := c.do(ctx, http.MethodGet, "/scans/"+id, "", nil, &s); err != nil {
		return err
	}
	offline := len(s.AgentRuns) > 0
	for _, r := range s.AgentRuns {
		offline = offline && r.AgentName == builtinAgent
	}
	fmt.Fprintf(w, "\nscan %s: %s\n", id, s.Status)
	if offline {
		fmt.Fprintln(w, "analyzed offline by the built-in analyzer: it checks each photo's quality (sharpness,")
		fmt.Fprintln(w, "exposure, size); it does not recognise house or room types or fill in the checklists,")
		fmt.Fprintln(w, "which needs the agents service (--analyzer URL).")
	} else {
		fmt.Fprintf(w, "house types: %s\n", listOr(s.DetectedHouseTypes, "none detected"))
	}
	for _, r := range s.Rooms {
		n := len(r.Images)
		line := fmt.Sprintf("  %s: %d %s", r.Label, n, plural(n, "photo", "photos"))
		if !offline {
			line += ", room types: " + listOr(r.DetectedRoomTypes, "none detected")
		}
		fmt.Fprintln(w, line)
	}
	if s.Summary != nil {
		for _, p := range s.Summary.ProsConsJSON.Pros {
			fmt.Fprintf(w, "  + %s\n", p)
		}
		for _, p := range s.Summary.ProsConsJSON.Cons {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	if !offline {
		fmt.Fprintf(w, "agent runs: %d\n", len(s.AgentRuns))
	}
	return nil
}

// runScans is `scanledger scans`: the caller's scans as a table, newest first.
func runScans(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scans", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("scans: unexpected argument %q", fs.Arg(0))
	}
	c, err := cf.connect("scans")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var list []struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		CreatedAt string `json:"createdAt"`
		House     struct {
			Address *string `json:"address"`
		} `json:"house"`
		Rooms  []struct{ Images []any } `json:"rooms"`
		Images []any                    `json:"images"`
	}
	if err := c.do(ctx, http.MethodGet, "/users/me/scans", "", nil, &list); err != nil {
		return fmt.Errorf("scans: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no scans yet: `scanledger scan PHOTO...` makes one")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCAN\tSTATUS\tCREATED\tPHOTOS\tADDRESS")
	for _, s := range list {
		created := s.CreatedAt
		if t, err := time.Parse(time.RFC3339, s.CreatedAt); err == nil {
			created = t.Local().Format("2006-01-02 15:04")
		}
		addr := "-"
		if s.House.Address != nil && *s.House.Address != "" {
			addr = *s.House.Address
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.ID, s.Status, created, len(s.Images), addr)
	}
	return tw.Flush()
}

func listOr(v []string, none string) string {
	if len(v) == 0 {
		return none
	}
	return strings.Join(v, ", ")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
