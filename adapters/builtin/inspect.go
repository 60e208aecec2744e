package builtin

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/scanledger/scanledger/domain"
)

// Quality is what the checks measured on one photo.
type Quality struct {
	Format         string  // "jpeg", "png", "gif", "webp", "bmp" or "tiff"
	Width, Height  int     // as displayed: EXIF orientation applied
	MeanLuma       float64 // 0-255
	DarkFraction   float64 // share of pixels clipped to black
	BrightFraction float64 // share of pixels clipped to white
	Sharpness      float64 // variance of the Laplacian at the analysis size
	Hash           uint64  // 64-bit difference hash, for near-duplicate detection

	Underexposed  bool
	Overexposed   bool
	Blurry        bool
	LowResolution bool
}

// Inspect checks one photo read from r.
//
// A photo larger than the byte or pixel limit is a domain.ETOOLARGE error, bytes that
// are no supported format a domain.EUNSUPPORTED error, and a supported format that
// does not decode a domain.EINVALID error. Any other error comes from r.
func (a *Analyzer) Inspect(r io.Reader) (Quality, error) {
	data, err := readAll(r, 0, a.maxBytes)
	if err != nil {
		return Quality{}, err
	}
	return a.inspect(data)
}

// readAll buffers the whole blob because the decoders need to read it twice (header,
// then pixels) and a blob store stream cannot rewind. size is a capacity hint.
func readAll(r io.Reader, size, limit int64) ([]byte, error) {
	if size <= 0 || size > limit {
		size = 0
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("read photo: %w", err)
	}
	if int64(buf.Len()) > limit {
		return nil, domain.Errorf(domain.ETOOLARGE, "larger than %d MB", limit>>20)
	}
	return buf.Bytes(), nil
}

func (a *Analyzer) inspect(data []byte) (Quality, error) {
	c, ok := sniff(data)
	if !ok {
		return Quality{}, domain.Errorf(domain.EUNSUPPORTED, "not a JPEG, PNG, GIF, WebP, BMP or TIFF image")
	}
	// The header alone says how much memory decoding takes; refuse before paying it.
	cfg, err := c.config(bytes.NewReader(data))
	if err != nil {
		return Quality{}, domain.Errorf(domain.EINVALID, "unreadable %s header: %v", c.name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Quality{}, domain.Errorf(domain.EINVALID, "%s header gives no size", c.name)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > a.maxPixels {
		return Quality{}, domain.Errorf(domain.ETOOLARGE, "%d×%d pixels is over the %.0f megapixel limit",
			cfg.Width, cfg.Height, float64(a.maxPixels)/1e6)
	}
	img, err := c.decode(bytes.NewReader(data))
	if err != nil {
		return Quality{}, domain.Errorf(domain.EINVALID, "corrupt %s: %v", c.name, err)
	}
	b := img.Bounds()
	tw, th := fitEdge(b.Dx(), b.Dy(), analysisEdge)
	thumb := boxResize(img, tw, th)

	q := Quality{Format: c.name, Width: b.Dx(), Height: b.Dy()}
	if c.name == "jpeg" {
		o := jpegOrientation(data)
		thumb = orient(thumb, o)
		if o >= 5 {
			q.Width, q.Height = q.Height, q.Width
		}
	}
	q.MeanLuma, q.DarkFraction, q.BrightFraction = exposure(thumb)
	q.Sharpness = laplacianVariance(thumb)
	q.Hash = dHash(thumb)
	q.Underexposed = q.MeanLuma < underMean || q.DarkFraction >= underClipped
	q.Overexposed = q.MeanLuma > overMean || q.BrightFraction >= overClipped
	// A clipped photo has no texture left to measure, so its low Laplacian says
	// nothing about focus; the exposure finding already asks for a retake.
	q.Blurry = !q.Underexposed && !q.Overexposed && q.Sharpness < blurThreshold
	q.LowResolution = max(q.Width, q.Height) < lowResolutionEdge
	return q, nil
}

type codec struct {
	name   string
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// sniff picks the decoder from the magic bytes. Calling the decoders directly, not
// image.Decode, keeps the accepted formats explicit and independent of whatever
// else in the binary registers itself with package image.
func sniff(b []byte) (codec, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\xFF\xD8\xFF")):
		return codec{"jpeg", jpeg.DecodeConfig, jpeg.Decode}, true
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1A\n")):
		return codec{"png", png.DecodeConfig, png.Decode}, true
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return codec{"gif", gif.DecodeConfig, gif.Decode}, true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return codec{"webp", webp.DecodeConfig, webp.Decode}, true
	case bytes.HasPrefix(b, []byte("BM")):
		return codec{"bmp", bmp.DecodeConfig, bmp.Decode}, true
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return codec{"tiff", tiff.DecodeConfig, tiff.Decode}, true
	}
	return codec{}, false
}
