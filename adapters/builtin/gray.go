package builtin

import (
	"image"
	"image/color"
)

// rowReader writes the luma (BT.601, full range, as JFIF defines it) of source row y
// into dst, which is as wide as the image.
type rowReader func(y int, dst []uint8)

// newRowReader picks a fast path for the concrete types the decoders return, so a
// 12-megapixel JPEG is read straight from its Y plane instead of through image.At,
// which allocates a color.Color per pixel.
func newRowReader(img image.Image) rowReader {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		return func(y int, dst []uint8) {
			i := m.YOffset(b.Min.X, y)
			copy(dst, m.Y[i:i+len(dst)])
		}
	case *image.Gray:
		return func(y int, dst []uint8) {
			i := m.PixOffset(b.Min.X, y)
			copy(dst, m.Pix[i:i+len(dst)])
		}
	case *image.RGBA:
		return rgbRows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), b.Min.Y)
	case *image.NRGBA:
		// Alpha is ignored: a photo's transparent pixels carry no exposure information
		// either way, and compositing would only darken them.
		return rgbRows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), b.Min.Y)
	case *image.Paletted:
		var lut [256]uint8
		for i, c := range m.Palette {
			lut[i] = color.GrayModel.Convert(c).(color.Gray).Y
		}
		return func(y int, dst []uint8) {
			i := m.PixOffset(b.Min.X, y)
			for x, p := range m.Pix[i : i+len(dst)] {
				dst[x] = lut[p]
			}
		}
	default:
		return func(y int, dst []uint8) {
			for x := range dst {
				dst[x] = color.GrayModel.Convert(img.At(b.Min.X+x, y)).(color.Gray).Y
			}
		}
	}
}

func rgbRows(pix []uint8, stride, origin, minY int) rowReader {
	return func(y int, dst []uint8) {
		row := pix[origin+(y-minY)*stride:]
		for x := range dst {
			p := row[4*x : 4*x+3 : 4*x+3]
			dst[x] = uint8((19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16)
		}
	}
}

// fitEdge returns the size that shrinks w×h so its longer edge is at most edge,
// keeping the aspect ratio. Images already small enough keep their size: upscaling
// would invent detail and inflate nothing but the cost.
func fitEdge(w, h, edge int) (int, int) {
	if w <= edge && h <= edge {
		return w, h
	}
	if w >= h {
		return edge, max(1, (h*edge+w/2)/w)
	}
	return max(1, (w*edge+h/2)/h), edge
}

// boxResize averages img to dw×dh grayscale: each output pixel is the mean of its
// source block. It streams the source rows in order, so memory beyond the decoded
// image is one row plus the output. A side smaller than the output repeats source
// pixels, which only happens for images too small to judge anyway.
func boxResize(img image.Image, dw, dh int) *image.Gray {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	xs := make([][2]int, dw)
	for dx := range xs {
		x0 := dx * sw / dw
		xs[dx] = [2]int{x0, max((dx+1)*sw/dw, x0+1)}
	}
	out := image.NewGray(image.Rect(0, 0, dw, dh))
	acc := make([]uint32, dw)
	line := make([]uint8, sw)
	read := newRowReader(img)
	last := -1
	for dy := range dh {
		y0 := dy * sh / dh
		y1 := max((dy+1)*sh/dh, y0+1)
		clear(acc)
		for y := y0; y < y1; y++ {
			if y != last {
				read(b.Min.Y+y, line)
				last = y
			}
			for dx, r := range xs {
				var s uint32
				for _, v := range line[r[0]:r[1]] {
					s += uint32(v)
				}
				acc[dx] += s
			}
		}
		row := out.Pix[dy*out.Stride:]
		for dx, r := range xs {
			n := uint32((r[1] - r[0]) * (y1 - y0))
			row[dx] = uint8((acc[dx] + n/2) / n)
		}
	}
	return out
}
