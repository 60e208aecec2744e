package builtin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/blob"
)

// memStore is an in-memory Opener. A key in fail returns that error; a key in
// sizes reports that size in blob.Info instead of the real one; onOpen runs before
// every open, so a test can cancel mid-scan.
type memStore struct {
	mu     sync.Mutex
	blobs  map[string][]byte
	fail   map[string]error
	sizes  map[string]int64
	opened int
	onOpen func(n int)
}

func newStore() *memStore {
	return &memStore{blobs: map[string][]byte{}, fail: map[string]error{}, sizes: map[string]int64{}}
}

func (s *memStore) Open(_ context.Context, key string) (io.ReadCloser, blob.Info, error) {
	s.mu.Lock()
	s.opened++
	n, hook := s.opened, s.onOpen
	b, ok := s.blobs[key]
	err := s.fail[key]
	size, claimed := s.sizes[key]
	s.mu.Unlock()
	if !claimed {
		size = int64(len(b))
	}
	if hook != nil {
		hook(n)
	}
	if err != nil {
		return nil, blob.Info{}, err
	}
	if !ok {
		return nil, blob.Info{}, domain.Errorf(domain.ENOTFOUND, "blob %s not found", key)
	}
	return io.NopCloser(bytes.NewReader(b)), blob.Info{Key: key, Size: size}, nil
}

// room is a request room whose images are named by blob key; image ids are the keys.
type room struct {
	id   string
	keys []string
}

func request(rooms ...room) analysis.Request {
	req := analysis.Request{ScanID: domain.NewID(), Attempt: 1}
	for _, r := range rooms {
		ar := analysis.Room{ID: r.id}
		for _, k := range r.keys {
			ar.Images = append(ar.Images, analysis.Image{ID: k, BlobKey: k})
		}
		req.Rooms = append(req.Rooms, ar)
	}
	return req
}

// sharedDir finds /work/shared from the module root, so tests run from any package
// directory. A missing fixture fails the test: silently skipping would hide that the
// checks never ran on a real photo.
func sharedDir(t testing.TB, sub ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared"}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture missing: %v", err)
	}
	return p
}

func readPhoto(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir(t, "data", "photos"), name))
	if err != nil {
		t.Fatalf("read photo: %v", err)
	}
	return b
}

func decodeJPEG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatalf("encode jpeg: %v", err)
	}
	return buf.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatalf("encode png: %v", err)
	}
	return buf.Bytes()
}

func uniform(w, h int, c color.Color) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

// texture is a sharp, mid-grey, deterministic pattern of 4-px blocks: a stand-in
// for a good photo of a different scene that costs nothing to decode.
func texture(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	x := uint32(1)
	for by := 0; by < h; by += 4 {
		for bx := 0; bx < w; bx += 4 {
			x = x*1664525 + 1013904223 // LCG: the same pattern every run
			v := uint8(64 + x>>24/2)
			for y := by; y < min(by+4, h); y++ {
				for xx := bx; xx < min(bx+4, w); xx++ {
					img.Pix[y*img.Stride+xx] = v
				}
			}
		}
	}
	return img
}

// boxBlur is a separable box blur of radius r (two passes, running sums), the
// textbook way to make a photo out of focus on purpose.
func boxBlur(src image.Image, r int) *image.RGBA {
	b := src.Bounds()
	in := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(in, in.Bounds(), src, b.Min, draw.Src)
	w, h := b.Dx(), b.Dy()
	pass := func(dst, s *image.RGBA, horizontal bool) {
		n, m := h, w // lines, samples per line
		if !horizontal {
			n, m = w, h
		}
		at := func(line, i int) int {
			if horizontal {
				return line*s.Stride + 4*i
			}
			return i*s.Stride + 4*line
		}
		for line := range n {
			for c := range 3 {
				sum, cnt := 0, 0
				for i := 0; i <= r && i < m; i++ {
					sum += int(s.Pix[at(line, i)+c])
					cnt++
				}
				for i := range m {
					dst.Pix[at(line, i)+c] = uint8(sum / cnt)
					if j := i + r + 1; j < m {
						sum += int(s.Pix[at(line, j)+c])
						cnt++
					}
					if j := i - r; j >= 0 {
						sum -= int(s.Pix[at(line, j)+c])
						cnt--
					}
				}
			}
			for i := range m {
				dst.Pix[at(line, i)+3] = 255
			}
		}
	}
	tmp := image.NewRGBA(in.Bounds())
	out := image.NewRGBA(in.Bounds())
	pass(tmp, in, true)
	pass(out, tmp, false)
	return out
}

// mergedChecklists returns the shipped base checklists with the custom user
// checklist merged in as the backend does (section 6.4): custom items appended to
// default and to their type, custom product items appended with prefixed ids.
func mergedChecklists(t testing.TB) (house, rooms, products json.RawMessage) {
	t.Helper()
	dir := sharedDir(t, "data", "checklists", "housescanner")
	load := func(name string) map[string]any {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("read checklist: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		return m
	}
	h, r, p, custom := load("house_type_checklist.json"), load("rooms_type_checklist.json"),
		load("products_type_checklist.json"), load("custom_user_checklist.json")
	merge := func(base, level map[string]any, typesKey string) {
		def := base["default"].(map[string]any)
		def["items"] = append(def["items"].([]any), level["default"].([]any)...)
		types := base[typesKey].(map[string]any)
		for name, items := range level[typesKey].(map[string]any) {
			g := types[name].(map[string]any)
			g["items"] = append(g["items"].([]any), items.([]any)...)
		}
	}
	merge(h, custom["house_level"].(map[string]any), "house_types")
	merge(r, custom["room_level"].(map[string]any), "room_types")
	for _, pl := range custom["product_level"].([]any) {
		pl := pl.(map[string]any)
		for _, it := range pl["custom_items"].([]any) {
			it := it.(map[string]any)
			it["id"] = fmt.Sprintf("%s__%s", pl["product_id"], it["id"])
			p["items"] = append(p["items"].([]any), it)
		}
	}
	enc := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encode checklist: %v", err)
		}
		return b
	}
	return enc(h), enc(r), enc(p)
}
