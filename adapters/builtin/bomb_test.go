package builtin_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/scanledger/scanledger/adapters/builtin"
	"github.com/scanledger/scanledger/adapters/builtin/builtintest"
	"github.com/scanledger/scanledger/domain"
)

// peakRSS is this process's high-water resident set, in bytes.
func peakRSS(t testing.TB) int64 {
	t.Helper()
	n, err := builtintest.PeakRSS("self")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Four 7071×7071 16-bit RGBA PNGs (under the 50 MP cap, ~400 MB each decoded) checked
// at once must not take the process's memory with them: the decode budget counts
// bytes, bit depth included, and all decodes share one budget.
func TestDecompressionBombsStayWithinTheDecodeBudget(t *testing.T) {
	bomb := builtintest.BombPNG(7071, 7071)
	t.Logf("bomb: %d bytes compressed", len(bomb))
	a := builtin.New(nil)
	before := peakRSS(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = a.Inspect(bytes.NewReader(bomb))
		}()
	}
	wg.Wait()
	after := peakRSS(t)
	t.Logf("peak RSS %d MiB before, %d MiB after four bombs", before>>20, after>>20)
	for _, err := range errs {
		if domain.ErrorCode(err) != domain.ETOOLARGE {
			t.Fatalf("a bomb was not refused as too large: %v", err)
		}
	}
	if grew := after - before; grew > 300<<20 {
		t.Fatalf("peak RSS grew by %d MiB", grew>>20)
	}
}

// progressiveBomb is a 7000×7000 progressive JPEG of flat grey with no chroma
// subsampling (made with libjpeg's cjpeg -sample 1x1 -progressive): 575 kB, 971 bytes
// gzipped. Its pixels are 147 MB (3 bytes each), but a progressive decoder keeps every
// component's DCT coefficients until the last scan, 4 bytes per pixel per component:
// decoding it allocates about 700 MiB.
func progressiveBomb(t testing.TB) []byte {
	t.Helper()
	f, err := os.Open("testdata/progressive-7000x7000.jpg.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A progressive JPEG under the pixel cap is charged what its decoder really holds,
// coefficients included, so one that would take most of a gigabyte is refused from its
// header like the 16-bit PNG, not decoded.
func TestProgressiveJPEGIsChargedForTheCoefficientsItsDecoderKeeps(t *testing.T) {
	bomb := progressiveBomb(t)
	a := builtin.New(nil)
	before := peakRSS(t)
	_, err := a.Inspect(bytes.NewReader(bomb))
	after := peakRSS(t)
	t.Logf("peak RSS %d MiB before, %d MiB after the progressive JPEG", before>>20, after>>20)
	if domain.ErrorCode(err) != domain.ETOOLARGE {
		t.Fatalf("a 7000×7000 progressive JPEG (about 700 MiB to decode) was not refused as too large: %v", err)
	}
	if !strings.Contains(domain.ErrorMessage(err), "decode budget") {
		t.Errorf("message: got %q, want it to name the decode budget", domain.ErrorMessage(err))
	}
	if grew := after - before; grew > 300<<20 {
		t.Fatalf("peak RSS grew by %d MiB", grew>>20)
	}
}
