package builtin

import (
	"image"
	"math/bits"
)

// exposure returns the mean luma and the shares of pixels clipped to near black and
// near white. Clipped shares catch what the mean hides: a photo of a window against a
// dark wall can average mid-grey while half of it carries no detail.
func exposure(g *image.Gray) (mean, dark, bright float64) {
	var sum, nDark, nBright int
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for y := range h {
		for _, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			sum += int(v)
			if v <= darkLuma {
				nDark++
			}
			if v >= brightLuma {
				nBright++
			}
		}
	}
	n := float64(w * h)
	return float64(sum) / n, float64(nDark) / n, float64(nBright) / n
}

// laplacianVariance is the variance of the 4-neighbour Laplacian over the interior
// pixels: focus and motion blur remove the high frequencies the Laplacian responds
// to, so a blurred photo scores lower than a sharp one of the same scene.
func laplacianVariance(g *image.Gray) float64 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if w < 3 || h < 3 {
		return 0
	}
	var sum, sumSq int64
	s := g.Stride
	for y := 1; y < h-1; y++ {
		up, mid, down := g.Pix[(y-1)*s:], g.Pix[y*s:], g.Pix[(y+1)*s:]
		for x := 1; x < w-1; x++ {
			l := 4*int64(mid[x]) - int64(up[x]) - int64(down[x]) - int64(mid[x-1]) - int64(mid[x+1])
			sum += l
			sumSq += l * l
		}
	}
	n := float64((w - 2) * (h - 2))
	m := float64(sum) / n
	return float64(sumSq)/n - m*m
}

// dHash is the 64-bit difference hash: the sign of the horizontal gradient on a 9×8
// average. It survives re-encoding, rescaling and mild exposure changes, which is
// what a photo uploaded twice (or resent from a messenger) goes through.
func dHash(g *image.Gray) uint64 {
	t := boxResize(g, 9, 8)
	var h uint64
	for y := range 8 {
		row := t.Pix[y*t.Stride : y*t.Stride+9]
		for x := range 8 {
			h <<= 1
			if row[x] < row[x+1] {
				h |= 1
			}
		}
	}
	return h
}

func hamming(a, b uint64) int { return bits.OnesCount64(a ^ b) }
