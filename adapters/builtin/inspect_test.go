package builtin_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/scanledger/scanledger/adapters/builtin"
	"github.com/scanledger/scanledger/domain"
)

func TestRealPhotosDecodeWithTheirDimensionsAndPassEveryCheck(t *testing.T) {
	a := builtin.New(newStore())
	for _, tc := range []struct {
		name string
		w, h int
	}{{"room1-1.jpeg", 3000, 2250}, {"room2-1.jpg", 1300, 716}} {
		q, err := a.Inspect(bytes.NewReader(readPhoto(t, tc.name)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if q.Format != "jpeg" || q.Width != tc.w || q.Height != tc.h {
			t.Errorf("%s: got %s %d×%d, want jpeg %d×%d", tc.name, q.Format, q.Width, q.Height, tc.w, tc.h)
		}
		if q.Underexposed || q.Overexposed || q.Blurry || q.LowResolution {
			t.Errorf("%s: a good photo was flagged: %+v", tc.name, q)
		}
	}
}

func TestBlackImageIsUnderexposedAndNotCalledBlurry(t *testing.T) {
	q, err := builtin.New(newStore()).Inspect(bytes.NewReader(encodePNG(t, uniform(800, 600, color.Black))))
	if err != nil {
		t.Fatal(err)
	}
	if !q.Underexposed || q.MeanLuma != 0 || q.DarkFraction != 1 {
		t.Errorf("black image: got %+v, want underexposed with mean 0 and all pixels dark", q)
	}
	if q.Blurry || q.Overexposed {
		t.Errorf("black image: only the exposure finding applies, got %+v", q)
	}
}

func TestWhiteImageIsOverexposed(t *testing.T) {
	q, err := builtin.New(newStore()).Inspect(bytes.NewReader(encodePNG(t, uniform(800, 600, color.White))))
	if err != nil {
		t.Fatal(err)
	}
	if !q.Overexposed || q.Underexposed || q.Blurry {
		t.Errorf("white image: got %+v, want overexposed only", q)
	}
}

func TestBlurredCopyOfARealPhotoScoresLowerSharpnessAndIsBlurry(t *testing.T) {
	a := builtin.New(newStore())
	raw := readPhoto(t, "room2-1.jpg")
	orig, err := a.Inspect(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	blurred, err := a.Inspect(bytes.NewReader(encodeJPEG(t, boxBlur(decodeJPEG(t, raw), 8))))
	if err != nil {
		t.Fatal(err)
	}
	if blurred.Sharpness >= orig.Sharpness/10 {
		t.Errorf("sharpness: blurred %.1f, original %.1f; want the blur to cost at least 10×", blurred.Sharpness, orig.Sharpness)
	}
	if orig.Blurry || !blurred.Blurry {
		t.Errorf("blurry flag: original %v, blurred %v; want false, true", orig.Blurry, blurred.Blurry)
	}
}

func TestSmallPhotoIsLowResolution(t *testing.T) {
	q, err := builtin.New(newStore()).Inspect(bytes.NewReader(encodeJPEG(t, uniform(320, 240, color.Gray{128}))))
	if err != nil {
		t.Fatal(err)
	}
	if !q.LowResolution {
		t.Errorf("320×240: got %+v, want low resolution", q)
	}
}

func TestEveryAcceptedFormatDecodes(t *testing.T) {
	img := image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.Black, color.White})
	var gifBuf, bmpBuf, tiffBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := bmp.Encode(&bmpBuf, img); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffBuf, img, nil); err != nil {
		t.Fatal(err)
	}
	// The smallest lossless WebP (1×1); x/image has no WebP encoder.
	webp, err := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	if err != nil {
		t.Fatal(err)
	}
	a := builtin.New(newStore())
	for _, tc := range []struct {
		format string
		data   []byte
		w, h   int
	}{
		{"png", encodePNG(t, img), 40, 30},
		{"jpeg", encodeJPEG(t, img), 40, 30},
		{"gif", gifBuf.Bytes(), 40, 30},
		{"bmp", bmpBuf.Bytes(), 40, 30},
		{"tiff", tiffBuf.Bytes(), 40, 30},
		{"webp", webp, 1, 1},
	} {
		q, err := a.Inspect(bytes.NewReader(tc.data))
		if err != nil {
			t.Errorf("%s: %v", tc.format, err)
			continue
		}
		if q.Format != tc.format || q.Width != tc.w || q.Height != tc.h {
			t.Errorf("%s: got %s %d×%d", tc.format, q.Format, q.Width, q.Height)
		}
	}
}

func TestExifOrientationGivesTheDisplayedSize(t *testing.T) {
	plain := encodeJPEG(t, uniform(64, 32, color.Gray{100}))
	// APP1 "Exif" with a big-endian TIFF header and one IFD0 entry: 0x0112 SHORT 1 = 6.
	tiffBlock := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0}
	seg := append([]byte("Exif\x00\x00"), tiffBlock...)
	app1 := append([]byte{0xFF, 0xE1, 0, 0}, seg...)
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	rotated := append(append([]byte{0xFF, 0xD8}, app1...), plain[2:]...)

	q, err := builtin.New(newStore()).Inspect(bytes.NewReader(rotated))
	if err != nil {
		t.Fatal(err)
	}
	if q.Width != 32 || q.Height != 64 {
		t.Errorf("orientation 6: got %d×%d, want 32×64", q.Width, q.Height)
	}
}

// pngHeader is a PNG that claims w×h pixels but holds no image data: enough for the
// size check, which must refuse it without trying to decode.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2 // 8-bit RGB
	b := append([]byte("\x89PNG\r\n\x1a\n"), 0, 0, 0, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

func TestAbsurdDimensionsAreRefusedBeforeDecoding(t *testing.T) {
	a := builtin.New(newStore())
	allocs := testing.AllocsPerRun(5, func() {
		_, err := a.Inspect(bytes.NewReader(pngHeader(10000, 6000)))
		if domain.ErrorCode(err) != domain.ETOOLARGE {
			t.Fatalf("60 megapixels: got %v, want a too_large error", err)
		}
	})
	// Decoding would allocate 180 MB in a handful of allocations; what matters is
	// that none of them happen, which a tight count shows.
	if allocs > 60 {
		t.Errorf("refusing a huge image took %.0f allocations; it should not decode", allocs)
	}
	small := builtin.New(newStore())
	small.MaxPixels = 1000
	if _, err := small.Inspect(
		bytes.NewReader(encodePNG(t, uniform(40, 30, color.Black)))); domain.ErrorCode(err) != domain.ETOOLARGE {
		t.Errorf("MaxPixels 1000 on 1200 pixels: got %v, want too_large", err)
	}
}

func TestOversizedBlobIsRefused(t *testing.T) {
	a := builtin.New(newStore())
	a.MaxBytes = 1000
	_, err := a.Inspect(bytes.NewReader(readPhoto(t, "room2-1.jpg")))
	if domain.ErrorCode(err) != domain.ETOOLARGE {
		t.Errorf("got %v, want too_large", err)
	}
}

func TestNonImageAndCorruptImageAreRefused(t *testing.T) {
	a := builtin.New(newStore())
	if _, err := a.Inspect(strings.NewReader("%PDF-1.7 not a photo")); domain.ErrorCode(err) != domain.EUNSUPPORTED {
		t.Errorf("PDF: got %v, want unsupported", err)
	}
	photo := readPhoto(t, "room2-1.jpg")
	if _, err := a.Inspect(bytes.NewReader(photo[:len(photo)/2])); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("truncated JPEG: got %v, want invalid", err)
	}
}
