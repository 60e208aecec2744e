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
// width × height × bytes per pixel of the decoder's output, bit depth included.
func decodeBytes(cfg image.Config) int64 {
	return int64(cfg.Width) * int64(cfg.Height) * bytesPerPixel(cfg.ColorModel)
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
