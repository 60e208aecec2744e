package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/r3labs/sse/v2"
)

// client is the tiny API client behind `scanledger scan`.
type client struct {
	base  string // http://host:port
	token string
	http  *http.Client
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
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Message any `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("%s %s: %s: %v", method, path, resp.Status, e.Message)
	}
	if out != nil {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
		return json.Unmarshal(env.Data, out)
	}
	return nil
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
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				w, err := mw.CreateFormFile("images", filepath.Base(p))
				if err == nil {
					_, err = io.Copy(w, f)
				}
				f.Close()
				if err != nil {
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

// runScan is `scanledger scan PHOTO...`: create a scan, upload, process, follow the
// progress live and print the summary.
func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("SCANLEDGER_SERVER", "http://127.0.0.1:3000"), "scanledger base URL ($SCANLEDGER_SERVER)")
	tok := fs.String("token", os.Getenv("SCANLEDGER_TOKEN"), "access token ($SCANLEDGER_TOKEN); default: mint one from the local data dir's secret")
	dataDir := fs.String("data-dir", envOr("SCANLEDGER_DATA_DIR", "./var"), "data dir holding the secret, when no token is given")
	address := fs.String("address", "", "the house's address")
	oneRoom := fs.Bool("one-room", false, "put every photo in one room (default: one room per photo)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: scanledger scan [flags] PHOTO...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	photos := fs.Args()
	if len(photos) == 0 {
		fs.Usage()
		return errors.New("scan: no photos given")
	}
	if *tok == "" {
		t, err := localToken(*dataDir)
		if err != nil {
			return fmt.Errorf("scan: no --token and no local secret: %w", err)
		}
		*tok = t
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &client{base: strings.TrimRight(*server, "/"), token: *tok, http: &http.Client{}}

	var created struct {
		ScanID string `json:"scanId"`
	}
	body, _ := json.Marshal(map[string]string{"address": *address})
	if err := c.do(ctx, http.MethodPost, "/scans", "application/json", bytes.NewReader(body), &created); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "scan %s created\n", created.ScanID)
	if err := c.upload(ctx, created.ScanID, photos, *address, *oneRoom); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "uploaded %d photo(s)\n", len(photos))

	// Follow before processing starts, so no event can slip by.
	events := make(chan *sse.Event, 64)
	sc := sse.NewClient(c.base + "/api/v1/events?scanId=" + created.ScanID)
	sc.Headers["Authorization"] = "Bearer " + c.token
	subscribed := make(chan struct{})
	sc.OnConnect(func(*sse.Client) {
		select {
		case <-subscribed:
		default:
			close(subscribed)
		}
	})
	go func() { _ = sc.SubscribeRawWithContext(ctx, func(ev *sse.Event) { events <- ev }) }()
	select {
	case <-subscribed:
	case <-ctx.Done():
		return fmt.Errorf("scan: live stream: %w", ctx.Err())
	}

	if err := c.do(ctx, http.MethodPost, "/scans/"+created.ScanID+"/process", "application/json", strings.NewReader("{}"), nil); err != nil {
		return err
	}
	bar := progressBar{w: stderr}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("scan: waiting for the result: %w", ctx.Err())
		case ev := <-events:
			var p struct {
				Progress   int    `json:"progress"`
				Stage      string `json:"stage"`
				ETASeconds int    `json:"etaSeconds"`
				Error      string `json:"error"`
			}
			_ = json.Unmarshal(ev.Data, &p)
			switch string(ev.Event) {
			case "scan:processing":
				bar.draw(0, "Processing started", 0)
			case "scan:progress":
				bar.draw(p.Progress, p.Stage, p.ETASeconds)
			case "scan:failed":
				bar.done()
				return fmt.Errorf("scan failed: %s", p.Error)
			case "scan:completed":
				bar.draw(100, "Complete", 0)
				bar.done()
				return printSummary(ctx, c, created.ScanID, stdout)
			}
		}
	}
}

type progressBar struct{ w io.Writer }

func (b progressBar) draw(pct int, stage string, eta int) {
	const width = 30
	n := pct * width / 100
	line := fmt.Sprintf("\r[%s%s] %3d%% %s", strings.Repeat("#", n), strings.Repeat("-", width-n), pct, stage)
	if eta > 0 {
		line += fmt.Sprintf(" (about %ds left)", eta)
	}
	fmt.Fprintf(b.w, "%-100s", line)
}

func (b progressBar) done() { fmt.Fprintln(b.w) }

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
		AgentRuns []any `json:"agentRuns"`
	}
	if err := c.do(ctx, http.MethodGet, "/scans/"+id, "", nil, &s); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nscan %s: %s\n", id, s.Status)
	fmt.Fprintf(w, "house types: %s\n", listOr(s.DetectedHouseTypes, "not determined"))
	for _, r := range s.Rooms {
		fmt.Fprintf(w, "  %s: %d photo(s), room types: %s\n", r.Label, len(r.Images), listOr(r.DetectedRoomTypes, "not determined"))
	}
	if s.Summary != nil {
		for _, p := range s.Summary.ProsConsJSON.Pros {
			fmt.Fprintf(w, "  + %s\n", p)
		}
		for _, p := range s.Summary.ProsConsJSON.Cons {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	fmt.Fprintf(w, "agent runs: %d\n", len(s.AgentRuns))
	return nil
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
