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
	var size int64
	if s, ok := r.(interface{ Size() int64 }); ok { // bytes.Reader, strings.Reader, io.SectionReader
		size = s.Size()
	}
	data, err := readAll(r, size, a.maxBytes())
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
		return nil, domain.Errorf(domain.ETOOLARGE, "larger than the %s limit", sizeText(limit))
	}
	return buf.Bytes(), nil
}

// sizeText writes a byte count the way people read photo sizes.
func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (a *Analyzer) inspect(data []byte) (Quality, error) {
	img, format, release, err := a.decode(data)
	if err != nil {
		return Quality{}, err
	}
	defer release() // the decoded pixels are garbage once measured
	orientation := 1
	if format == "jpeg" {
		orientation = jpegOrientation(data)
	}
	return measure(img, format, orientation), nil
}

// decode refuses what it should not decode, then decodes within the decode budget;
// release gives the budget back.
func (a *Analyzer) decode(data []byte) (img image.Image, format string, release func(), err error) {
	c, ok := sniff(data)
	if !ok {
		return nil, "", nil, domain.Errorf(domain.EUNSUPPORTED, "not a JPEG, PNG, GIF, WebP, BMP or TIFF image")
	}
	// The header alone says how much memory decoding takes; refuse before paying it.
	cfg, err := guard(func() (image.Config, error) { return c.config(bytes.NewReader(data)) })
	if err != nil {
		return nil, c.name, nil, domain.Errorf(domain.EINVALID, "unreadable %s header: %v", c.name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, c.name, nil, domain.Errorf(domain.EINVALID, "%s header gives no size", c.name)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > a.maxPixels() {
		return nil, c.name, nil, domain.Errorf(domain.ETOOLARGE, "%d×%d pixels is over the %g megapixel limit",
			cfg.Width, cfg.Height, float64(a.maxPixels())/1e6)
	}
	// Pixels are not all the same size: a 16-bit RGBA PNG takes 8 bytes each, and a
	// progressive JPEG's decoder holds 5 bytes a pixel a component.
	cost := decodeBytes(c.name, cfg, data)
	if cost > a.decodes().total {
		return nil, c.name, nil, domain.Errorf(domain.ETOOLARGE, "%d×%d pixels take %d MB decoded, over the %d MB decode budget",
			cfg.Width, cfg.Height, cost>>20, a.decodes().total>>20)
	}
	a.decodes().acquire(cost)
	release = func() { a.decodes().release(cost) }
	img, err = guard(func() (image.Image, error) { return c.decode(bytes.NewReader(data)) })
	if err != nil {
		release()
		return nil, c.name, nil, domain.Errorf(domain.EINVALID, "corrupt %s: %v", c.name, err)
	}
	if img.Bounds().Empty() { // a GIF's first frame may be smaller than its screen, never empty
		release()
		return nil, c.name, nil, domain.Errorf(domain.EINVALID, "corrupt %s: no pixels", c.name)
	}
	return img, c.name, release, nil
}

// measure runs every check on the analysis-size grayscale copy; img itself is not
// kept, so the full decode is garbage as soon as the copy exists.
func measure(img image.Image, format string, orientation int) Quality {
	b := img.Bounds()
	tw, th := fitEdge(b.Dx(), b.Dy(), analysisEdge)
	thumb := orient(boxResize(img, tw, th), orientation)
	q := Quality{Format: format, Width: b.Dx(), Height: b.Dy()}
	if orientation >= 5 {
		q.Width, q.Height = q.Height, q.Width
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
	return q
}

// guard turns a decoder panic into an error. Photos are uploads from anyone, image
// decoders have panicked on crafted files before, and one bad photo must cost a
// finding, not the worker process.
func guard[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return f()
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
