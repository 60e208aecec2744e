package builtin

import (
	"image"
	"image/color"
	"sync"
)

// defaultDecodeBudget bounds the memory every decode running at once in this process
// may take together: a 50-megapixel 8-bit RGBA photo (200 MB) fits, one at a time; a
// 16-bit RGBA PNG of the same size (400 MB, a few hundred kB compressed) does not, and
// is reported instead of decoded.
const defaultDecodeBudget = 256 << 20

// decodeBytes is what decoding an image with this header allocates for its pixels:
// width × height × bytes per pixel of the decoder's output, bit depth included. A JPEG
// is costed from its frame header instead (jpegDecodeBytes), because what its decoder
// holds depends on more than the color model.
func decodeBytes(format string, cfg image.Config, data []byte) int64 {
	if format == "jpeg" {
		if n, ok := jpegDecodeBytes(data); ok {
			return n
		}
	}
	return int64(cfg.Width) * int64(cfg.Height) * bytesPerPixel(cfg.ColorModel)
}

// jpegDecodeBytes reads the frame header (SOFn) of a JPEG and returns what image/jpeg
// allocates to decode it: one plane per component at its sampling, in whole 8×8
// blocks; for a progressive JPEG also every component's DCT coefficients (64 int32 a
// block, so 4 bytes a pixel a component), which the decoder keeps until the last scan;
// and for four components (CMYK) the converted 4-byte output. A flat-grey 7000×7000
// progressive JPEG of 575 kB takes about 700 MB, where its color model alone says
// 147 MB. ok is false when there is no frame header before the first scan.
func jpegDecodeBytes(data []byte) (n int64, ok bool) {
	i := 2 // after SOI
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return 0, false
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0x01 || marker >= 0xD0 && marker <= 0xD7 { // no length
			i += 2
			continue
		}
		length := int(data[i+2])<<8 | int(data[i+3])
		seg := data[i+4 : min(len(data), i+2+length)]
		switch {
		case marker == 0xDA: // start of scan: no frame header came first
			return 0, false
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			return jpegFrameBytes(seg, marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE)
		}
		i += 2 + length
	}
	return 0, false
}

// jpegFrameBytes costs a frame header's body: precision, height, width, then per
// component its id, sampling factors (h<<4 | v) and quantization table.
func jpegFrameBytes(seg []byte, progressive bool) (n int64, ok bool) {
	if len(seg) < 6 {
		return 0, false
	}
	h, w, nc := int64(seg[1])<<8|int64(seg[2]), int64(seg[3])<<8|int64(seg[4]), int(seg[5])
	if nc < 1 || len(seg) < 6+3*nc {
		return 0, false
	}
	var hmax, vmax int64 = 1, 1
	for c := range nc {
		s := seg[6+3*c+1]
		hmax, vmax = max(hmax, int64(s>>4)), max(vmax, int64(s&15))
	}
	mcuW, mcuH := (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax) // MCUs across and down
	perPixel := int64(1)
	if progressive {
		perPixel += 4
	}
	for c := range nc {
		s := seg[6+3*c+1]
		n += mcuW * int64(s>>4) * 8 * mcuH * int64(s&15) * 8 * perPixel
	}
	if nc == 4 {
		n += w * h * 4
	}
	return n, true
}

func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel: // at most 4:4:4 (3 bytes); subsampled JPEGs take less
		return 3
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8 // unknown: assume the widest
}

// budget is a weighted semaphore over bytes: decodes wait until their size fits in
// what the others leave. One budget per Analyzer, and cmd/scanledger makes one Analyzer,
// so it bounds every decode the process runs at once, whichever job they belong to.
type budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	total int64
	used  int64
}

func newBudget(total int64) *budget {
	b := &budget{total: total}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits for n bytes; n must not exceed the total.
func (b *budget) acquire(n int64) {
	b.mu.Lock()
	for b.used+n > b.total {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}
