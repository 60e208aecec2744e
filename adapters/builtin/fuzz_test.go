package builtin_test

import (
	"bytes"
	"testing"

	"github.com/scanledger/scanledger/adapters/builtin"
	"github.com/scanledger/scanledger/adapters/builtin/builtintest"
	"github.com/scanledger/scanledger/domain"
)

// Whatever bytes are uploaded, Inspect measures them or says why not with one of its
// three codes, and never panics. The header parsers
// (the JPEG frame header costing included) see every mutation of a real JPEG, PNG and
// the progressive bomb's opening.
func FuzzInspect(f *testing.F) {
	f.Add(encodeJPEG(f, texture(64, 48)))
	f.Add(encodePNG(f, texture(64, 48)))
	f.Add(progressiveBomb(f)[:4096])
	f.Add(builtintest.BombPNG(300, 200))
	a := builtin.New(nil)
	a.MaxPixels, a.DecodeBudget = 1<<20, 16<<20
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := a.Inspect(bytes.NewReader(data))
		switch domain.ErrorCode(err) {
		case "", domain.ETOOLARGE, domain.EUNSUPPORTED, domain.EINVALID:
		default:
			t.Fatalf("error without an inspection code: %v", err)
		}
	})
}
