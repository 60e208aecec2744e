package blobtest

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Sample is a named blob body used by the suite and by sniffing tests.
type Sample struct {
	Name        string
	ContentType string // what blob.Sniff must report; "" for a body that is not an image
	Data        []byte
}

// Images returns one small, decodable image of every type blob.Sniff accepts (TIFF in
// both byte orders). JPEG, PNG and GIF come from the standard library's encoders; BMP,
// TIFF and WebP have no standard encoder, so they are literals that were checked with
// golang.org/x/image's decoders (the suite itself stays standard-library only).
func Images(tb testing.TB) []Sample {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			img.Set(x, y, color.NRGBA{uint8(x * 16), uint8(y * 16), 128, 255})
		}
	}
	encode := func(name string, enc func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			tb.Fatalf("encode %s fixture: %v", name, err)
		}
		return b.Bytes()
	}
	return []Sample{
		{"jpeg", "image/jpeg", encode("jpeg", func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) })},
		{"png", "image/png", encode("png", func(b *bytes.Buffer) error { return png.Encode(b, img) })},
		{"gif", "image/gif", encode("gif", func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) })},
		// 2x2, 24-bit, BITMAPINFOHEADER (from x/image/bmp).
		{"bmp", "image/bmp", []byte("BMF\x00\x00\x00\x00\x00\x00\x006\x00\x00\x00(\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc8\x1e\x1e\xfa\xfa\xfa\x00\x00\x1e\x1e\xc8\x1e\xc8\x1e\x00\x00")},
		// 1x1, 8-bit grey, uncompressed, little-endian ("II").
		{"tiff-little-endian", "image/tiff", []byte("II*\x00\b\x00\x00\x00\b\x00\x00\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02\x01\x03\x00\x01\x00\x00\x00\b\x00\x00\x00\x03\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x06\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x11\x01\x04\x00\x01\x00\x00\x00n\x00\x00\x00\x16\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x17\x01\x04\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x80")},
		// The same image big-endian ("MM").
		{"tiff-big-endian", "image/tiff", []byte("MM\x00*\x00\x00\x00\b\x00\b\x01\x00\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x01\x02\x00\x03\x00\x00\x00\x01\x00\b\x00\x00\x01\x03\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x01\x06\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x01\x11\x00\x04\x00\x00\x00\x01\x00\x00\x00n\x01\x16\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x01\x17\x00\x04\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x80")},
		// 1x1 lossless ("VP8L").
		{"webp", "image/webp", []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\r\x00\x00\x00/\x00\x00\x00\x10\a\x10\x11\x11\x88\x88\xfe\a\x00")},
	}
}

// NonImages returns bodies a store must refuse: formats browsers cannot show or that can
// carry script, text, archives, and near-misses of the accepted magic numbers.
func NonImages() []Sample {
	pad := func(s string) []byte { return append([]byte(s), make([]byte, 64)...) }
	return []Sample{
		{Name: "empty", Data: []byte{}},
		{Name: "heic", Data: pad("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")},
		{Name: "avif", Data: pad("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf")},
		{Name: "svg", Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)},
		{Name: "svg-with-xml-prolog", Data: []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`)},
		{Name: "html", Data: []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")},
		{Name: "html-then-png", Data: []byte("<html>\x89PNG\r\n\x1a\n")},
		{Name: "text", Data: []byte("just a note about the kitchen\n")},
		{Name: "text-starting-with-bm", Data: []byte("BMW parked in the garage, photo to follow\n")},
		{Name: "zip", Data: pad("PK\x03\x04\x14\x00\x00\x00\x08\x00")},
		{Name: "pdf", Data: []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")},
		{Name: "riff-wave", Data: pad("RIFF\x24\x08\x00\x00WAVEfmt ")},
		{Name: "riff-webp-without-image-chunk", Data: pad("RIFF\x24\x08\x00\x00WEBPJUNK")},
		{Name: "jpeg-magic-after-a-space", Data: []byte(" \xff\xd8\xff\xe0\x00\x10JFIF")},
		{Name: "truncated-png-magic", Data: []byte("\x89PNG\r\n")},
		{Name: "gif-wrong-version", Data: pad("GIF88a")},
		{Name: "bigtiff", Data: pad("II+\x00\x08\x00\x00\x00")},
	}
}

// Photo returns a real phone photo from the shared data set, e.g. "room1-1.jpeg" (1.1
// MB) or "room2-1.jpg". It looks in ../shared/data/photos next to the module root (the
// nearest directory above the working directory holding go.mod) and fails tb, rather
// than skipping, when the photo is missing: a suite that silently skips proves nothing.
func Photo(tb testing.TB, name string) []byte {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("locate photos: %v", err)
	}
	for {
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			tb.Fatalf("locate photos: %v", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("locate photos: no go.mod above the working directory")
		}
		dir = parent
	}
	b, err := os.ReadFile(filepath.Join(dir, "..", "shared", "data", "photos", name))
	if err != nil {
		tb.Fatalf("read photo: %v", err)
	}
	return b
}
