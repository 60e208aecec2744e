package builtin_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/scanledger/scanledger/adapters/builtin"
	"github.com/scanledger/scanledger/domain/analysis"
)

// BenchmarkAnalyzeRealPhoto is one full Analyze of a one-photo scan of the 1.1 MB,
// 3000×2250 JPEG. "bare" is the cost per photo; "merged checklists" adds the
// once-per-scan cost of reading the shipped checklists into not_assessed and metadata.
func BenchmarkAnalyzeRealPhoto(b *testing.B) {
	s := newStore()
	s.blobs["p"] = readPhoto(b, "room1-1.jpeg")
	bare := request(room{"r", []string{"p"}})
	merged := bare
	merged.HouseChecklist, merged.RoomsChecklist, merged.ProductsChecklist = mergedChecklists(b)
	a := builtin.New(s)
	for _, bc := range []struct {
		name string
		req  analysis.Request
	}{{"bare", bare}, {"merged checklists", merged}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.blobs["p"])))
			for b.Loop() {
				if _, err := a.Analyze(context.Background(), bc.req, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInspectRealPhoto is the same photo without the response around it.
func BenchmarkInspectRealPhoto(b *testing.B) {
	data := readPhoto(b, "room1-1.jpeg")
	a := builtin.New(newStore())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := a.Inspect(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
