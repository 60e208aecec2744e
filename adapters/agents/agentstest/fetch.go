package agentstest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The real fetcher's limits (agents-service app/infrastructure/storage/fetch.py).
const (
	fetchTimeout      = 30 * time.Second
	fetchUserAgent    = "HouseCheck/2.0 Image Fetcher"
	fetchPerRoom      = 5
	maxURLLength      = 2048
	minImageBytes     = 100
	maxImageBytes     = 50_000_000
	fetchedImagesNote = "image/jpeg, image/jpg, image/png, image/webp, image/bmp, image/tiff, image/gif"
)

// isImageContentType is the fetcher's allow-list; anything else (HEIC, say) is dropped.
func isImageContentType(mediaType string) bool {
	switch mediaType {
	case "image/jpeg", "image/jpg", "image/png", "image/webp", "image/bmp", "image/tiff", "image/gif":
		return true
	}
	return false
}

// fetchRoom fetches a room's images as the real fetcher does (at most 5 at a time) and
// returns the records in URL order.
func (s *Server) fetchRoom(ctx context.Context, roomID string, urls []string) []Fetch {
	out := make([]Fetch, len(urls))
	sem := make(chan struct{}, fetchPerRoom)
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = s.fetchOne(ctx, roomID, u)
		}()
	}
	wg.Wait()
	return out
}

func (s *Server) fetchOne(ctx context.Context, roomID, rawURL string) Fetch {
	f := Fetch{RoomID: roomID, URL: rawURL, UserAgent: fetchUserAgent}
	if reason := checkURL(rawURL); reason != "" {
		f.Reason = reason
		return f
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		f.Reason = "request error: " + err.Error()
		return f
	}
	req.Header.Set("User-Agent", fetchUserAgent)
	resp, err := s.fetcher.Do(req)
	if err != nil {
		f.Reason = "request error: " + err.Error()
		return f
	}
	defer resp.Body.Close()
	f.Status = resp.StatusCode
	f.ContentType = resp.Header.Get("Content-Type")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		f.Reason = fmt.Sprintf("HTTP %d", resp.StatusCode)
		return f
	}
	if mt, _, _ := mime.ParseMediaType(strings.ToLower(f.ContentType)); !isImageContentType(mt) {
		f.Reason = fmt.Sprintf("content type %q is not one of %s", f.ContentType, fetchedImagesNote)
		return f
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxImageBytes+1))
	f.Size = len(data)
	sum := sha256.Sum256(data)
	f.SHA256 = hex.EncodeToString(sum[:])
	switch {
	case err != nil:
		f.Reason = "read error: " + err.Error()
	case len(data) > maxImageBytes:
		f.Reason = fmt.Sprintf("larger than %d bytes", maxImageBytes)
	case len(data) < minImageBytes:
		f.Reason = fmt.Sprintf("suspiciously small: %d bytes", len(data))
	default:
		f.OK = true
	}
	return f
}

// checkURL applies the real fetcher's URL rules with ALLOW_LOCALHOST_URLS=true, the
// default, so loopback URLs of tests are accepted.
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "invalid URL: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("scheme %q is not http or https", u.Scheme)
	case u.Hostname() == "":
		return "URL has no host"
	case len(raw) > maxURLLength:
		return fmt.Sprintf("URL longer than %d characters", maxURLLength)
	}
	return ""
}
