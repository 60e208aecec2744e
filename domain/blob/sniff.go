package blob

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/scanledger/scanledger/domain"
)

// SniffLen is how many leading bytes Sniff looks at. Stores read this much before they
// decide, so a rejected upload costs one small read, never the whole body.
const SniffLen = 512

// MaxKeyLen bounds keys so that every adapter can hold them: it is a file system's
// NAME_MAX, so even a one-segment key fits in one directory entry, and far below S3's
// 1024. scanledger's own keys ("scans/<uuid>/<uuid>.jpg") are under 100 bytes.
const MaxKeyLen = 255

// Sniff reports the image type of a blob from its first bytes (at most SniffLen are
// looked at). Only formats that browsers display and the analysis service reads are
// recognised: JPEG, PNG, WebP, GIF, BMP and TIFF. Everything else, including HEIC, SVG
// (a script carrier) and any text, is not ok: we store what we can show safely.
func Sniff(head []byte) (contentType string, ok bool) {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "image/jpeg", true
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", true
	case isWebP(head):
		return "image/webp", true
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "image/gif", true
	case isBMP(head):
		return "image/bmp", true
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "image/tiff", true
	}
	return "", false
}

// isWebP requires the first chunk to be one of WebP's image chunks ("VP8 ", "VP8L",
// "VP8X"), not just the RIFF form type, so other RIFF files (WAV, AVI) never pass.
func isWebP(head []byte) bool {
	if len(head) < 16 || string(head[0:4]) != "RIFF" || string(head[8:15]) != "WEBPVP8" {
		return false
	}
	switch head[15] {
	case ' ', 'L', 'X':
		return true
	}
	return false
}

// isBMP checks the DIB header size as well as the "BM" magic: two letters alone would
// accept any text that starts with "BM".
func isBMP(head []byte) bool {
	if len(head) < 18 || string(head[0:2]) != "BM" {
		return false
	}
	switch binary.LittleEndian.Uint32(head[14:18]) {
	case 12, 40, 52, 56, 64, 108, 124: // BITMAPCOREHEADER ... BITMAPV5HEADER
		return true
	}
	return false
}

// Ext returns the file extension, with its dot, for a content type Sniff returns, and ""
// for any other, so callers can name keys after what was actually uploaded.
func Ext(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	case "image/bmp":
		return ".bmp"
	case "image/tiff":
		return ".tiff"
	}
	return ""
}

// ValidKey returns a domain.EINVALID error unless key is one scanledger could have
// chosen: "/"-separated segments of lower-case letters, digits, '.', '_' and '-', each
// starting and ending with a letter or digit, no "..", at most MaxKeyLen bytes. The
// rules are narrow on purpose: such a key is a safe relative path on every file system
// (no traversal, no hidden or temporary names, no case or trailing-dot aliases) and a
// URL path segment that needs no escaping.
func ValidKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return domain.Errorf(domain.EINVALID, "invalid blob key %.64q: %s", key, reason)
	}
	return nil
}

// ValidPrefix returns a domain.EINVALID error unless prefix is a valid key followed by
// "/". Requiring a whole segment means DeletePrefix("scans/ab/") can never reach
// "scans/abc/...", and an empty prefix can never wipe the store.
func ValidPrefix(prefix string) error {
	k, ok := strings.CutSuffix(prefix, "/")
	if !ok {
		return domain.Errorf(domain.EINVALID, "invalid blob prefix %.64q: must end in /", prefix)
	}
	if reason := keyProblem(k); reason != "" {
		return domain.Errorf(domain.EINVALID, "invalid blob prefix %.64q: %s", prefix, reason)
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return "too long"
	case strings.Contains(key, ".."):
		return `contains ".."`
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" {
			return "empty segment"
		}
		if !isAlnum(seg[0]) || !isAlnum(seg[len(seg)-1]) {
			return "segment must start and end with a letter or digit"
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return "only a-z, 0-9, '.', '_', '-' and '/' are allowed"
			}
		}
	}
	return ""
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
