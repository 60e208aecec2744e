package blob_test

import (
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/blob/blobtest"
)

func TestSniffRecognisesEveryAcceptedImageType(t *testing.T) {
	samples := append(blobtest.Images(t),
		blobtest.Sample{Name: "phone photo", ContentType: "image/jpeg", Data: blobtest.Photo(t, "room1-1.jpeg")})
	for _, s := range samples {
		got, ok := blob.Sniff(s.Data)
		if !ok || got != s.ContentType {
			t.Errorf("Sniff(%s) = %q, %v; want %q, true", s.Name, got, ok, s.ContentType)
		}
	}
}

func TestSniffRejectsEverythingElse(t *testing.T) {
	for _, s := range blobtest.NonImages() {
		if got, ok := blob.Sniff(s.Data); ok {
			t.Errorf("Sniff(%s) = %q, true; want not ok", s.Name, got)
		}
	}
}

func TestSniffLooksOnlyAtTheFirstSniffLenBytes(t *testing.T) {
	png := append(make([]byte, blob.SniffLen), "\x89PNG\r\n\x1a\n"...)
	if got, ok := blob.Sniff(png); ok {
		t.Errorf("Sniff of a PNG signature after %d bytes = %q, want not ok", blob.SniffLen, got)
	}
}

func TestExtNamesEveryAcceptedTypeAndNothingElse(t *testing.T) {
	want := map[string]string{
		"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
		"image/gif": ".gif", "image/bmp": ".bmp", "image/tiff": ".tiff",
		"image/heic": "", "image/svg+xml": "", "text/html": "", "": "",
	}
	for ct, ext := range want {
		if got := blob.Ext(ct); got != ext {
			t.Errorf("Ext(%q) = %q, want %q", ct, got, ext)
		}
	}
}

func TestValidKeyAcceptsScanledgerKeys(t *testing.T) {
	for _, key := range []string{
		"scans/" + domain.NewID() + "/" + domain.NewID() + ".jpg",
		"a",
		"0/1/2",
		"houses/h-1/rooms/room_2/photo.v2.jpeg",
		strings.Repeat("a", blob.MaxKeyLen),
	} {
		if err := blob.ValidKey(key); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", key, err)
		}
	}
}

func TestValidKeyRejectsEverythingThatIsNotASafeRelativePath(t *testing.T) {
	for _, key := range []string{
		"", "/", "/scans/a.jpg", "scans/a.jpg/", "scans//a.jpg", "..", "../a.jpg", "scans/../a.jpg",
		"scans/..", "./a.jpg", "scans/./a.jpg", ".", "a..jpg", ".hidden", "scans/.tmp-1", "a.", "a-",
		"_a", "Scans/a.jpg", "a b.jpg", `a\b.jpg`, "a%2e.jpg", "a\x00.jpg", "a\n.jpg", "é.jpg",
		"c:/a.jpg", "a?b", "a#b", "a~", strings.Repeat("a", blob.MaxKeyLen+1),
	} {
		err := blob.ValidKey(key)
		if code := domain.ErrorCode(err); code != domain.EINVALID {
			t.Errorf("ValidKey(%q) = %v, want an %s error", key, err, domain.EINVALID)
		}
	}
}

func TestValidPrefixIsAValidKeyAndASlash(t *testing.T) {
	for prefix, valid := range map[string]bool{
		"scans/": true, "scans/abc/": true,
		"": false, "/": false, "scans": false, "scans//": false, "../": false, "/scans/": false,
	} {
		err := blob.ValidPrefix(prefix)
		if valid && err != nil || !valid && domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("ValidPrefix(%q) = %v, want valid: %v", prefix, err, valid)
		}
	}
}

func FuzzSniff(f *testing.F) {
	for _, s := range blobtest.Images(f) {
		f.Add(s.Data)
	}
	for _, s := range blobtest.NonImages() {
		f.Add(s.Data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, ok := blob.Sniff(b)
		if !ok {
			if ct != "" {
				t.Fatalf("Sniff = %q, false; a rejection must not name a type", ct)
			}
			return
		}
		if blob.Ext(ct) == "" {
			t.Fatalf("Sniff = %q, which has no extension", ct)
		}
		if ct2, ok2 := blob.Sniff(b[:min(len(b), blob.SniffLen)]); ct2 != ct || !ok2 {
			t.Fatalf("Sniff depends on bytes past SniffLen: %q vs %q", ct, ct2)
		}
		// Browsers sniff by the same standard (MIME Sniffing, which has no TIFF rule):
		// whatever we accept, they must not take for something else, such as HTML.
		if ct != "image/tiff" {
			if browser := http.DetectContentType(b); browser != ct {
				t.Fatalf("Sniff = %q but a browser would sniff %q", ct, browser)
			}
		}
	})
}

func FuzzValidKey(f *testing.F) {
	for _, k := range []string{"scans/" + domain.NewID() + "/" + domain.NewID() + ".jpg", "../a", "a/./b", "a//b", "/a", "a.", "A"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if blob.ValidKey(key) != nil {
			return
		}
		// A valid key is a clean, local, relative path on every OS and needs no escaping.
		if path.Clean(key) != key || !filepath.IsLocal(key) || path.IsAbs(key) || strings.Contains(key, "..") {
			t.Fatalf("ValidKey accepted unsafe path %q", key)
		}
		if len(key) > blob.MaxKeyLen {
			t.Fatalf("ValidKey accepted %d bytes", len(key))
		}
		if strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789._-/") != "" {
			t.Fatalf("ValidKey accepted a byte outside the alphabet: %q", key)
		}
		if err := blob.ValidPrefix(key + "/"); err != nil {
			t.Fatalf("ValidPrefix(%q + \"/\") = %v", key, err)
		}
	})
}
