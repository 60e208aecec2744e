package builtin

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
	"github.com/scanledger/scanledger/domain/blob"
)

// Opener opens a stored photo. domain/blob.Store satisfies it; the analyzer needs
// nothing else from the store. A missing key must be a domain.ENOTFOUND error.
type Opener interface {
	Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
}

// Analyzer is the built-in analysis.Analyzer: image-quality checks run in process.
// Set its exported fields before the first call; zero means the default.
type Analyzer struct {
	// MaxPixels is the largest width×height decoded (default 50 megapixels). Larger
	// photos are reported, not decoded, because decoding costs memory in proportion.
	MaxPixels int64
	// DecodeBudget is how many bytes of decoded pixels all decodes running at once may
	// hold together (default 256 MiB); a photo whose decode alone needs more is
	// reported as too large, not decoded.
	DecodeBudget int64
	// MaxBytes is the largest blob read (default 50 MB, the agents-service's limit).
	MaxBytes int64

	open        Opener
	budgetOnce  sync.Once
	decodeSlots *budget
}

// New returns an Analyzer that reads photos through open.
func New(open Opener) *Analyzer { return &Analyzer{open: open} }

func (a *Analyzer) maxPixels() int64 { return orDefault(a.MaxPixels, defaultMaxPixels) }
func (a *Analyzer) maxBytes() int64  { return orDefault(a.MaxBytes, defaultMaxBytes) }

// decodes is the budget shared by every decode of this Analyzer, sized on first use.
func (a *Analyzer) decodes() *budget {
	a.budgetOnce.Do(func() { a.decodeSlots = newBudget(orDefault(a.DecodeBudget, defaultDecodeBudget)) })
	return a.decodeSlots
}

func orDefault(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// Analyze checks every photo of req one at a time, so memory holds one decoded photo
// whatever the scan's size, then compares them all for duplicates.
//
// A photo that is missing, unreadable or too large becomes a finding. The call fails
// with a non-retryable "no_usable_images" when no photo could be checked, a
// non-retryable "invalid_checklist" when a checklist is not JSON, a retryable
// "blob_unavailable" when the store fails other than with ENOTFOUND, and a retryable
// "interrupted" (which also matches ctx.Err() under errors.Is) when ctx ends.
func (a *Analyzer) Analyze(ctx context.Context, req analysis.Request, report func(analysis.Progress)) (*analysis.Response, error) {
	start := time.Now()
	lists, err := parseChecklists(req)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, r := range req.Rooms {
		total += len(r.Images)
	}
	prog := newProgress(report, total, start)
	photos := make([]photo, 0, total)
	for ri, room := range req.Rooms {
		for ii, img := range room.Images {
			if err := ctx.Err(); err != nil {
				return nil, interrupted(err, len(photos), total)
			}
			p, err := a.check(ctx, img)
			if err != nil {
				if ctx.Err() != nil {
					return nil, interrupted(ctx.Err(), len(photos), total)
				}
				return nil, err
			}
			p.room, p.index, p.roomID, p.imageID = ri+1, ii+1, room.ID, img.ID
			photos = append(photos, p)
			prog.photoDone(len(photos))
		}
	}
	if usable(photos) == 0 {
		return nil, &analysis.Error{Code: "no_usable_images", Detail: noUsableDetail(photos), Retryable: false}
	}
	markDuplicates(photos)
	resp := buildResponse(req, lists, photos, start, time.Now())
	prog.finish()
	return resp, nil
}

// check opens and inspects one photo. Only store trouble that a later attempt may
// cure is an error; everything about the photo itself is recorded in the photo.
func (a *Analyzer) check(ctx context.Context, img analysis.Image) (photo, error) {
	rc, info, err := a.open.Open(ctx, img.BlobKey)
	if err != nil {
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			return photo{fault: faultMissing, faultDetail: "not found in storage"}, nil
		}
		return photo{}, unavailable(fmt.Errorf("open %s: %w", img.BlobKey, err))
	}
	defer rc.Close()
	if info.Size > a.maxBytes() { // known from the store: do not read 50 MB to refuse it
		return photo{fault: faultTooLarge, faultDetail: sizeText(info.Size) + " is over the " + sizeText(a.maxBytes()) + " limit"}, nil
	}
	data, err := readAll(rc, info.Size, a.maxBytes())
	if domain.ErrorCode(err) == domain.ETOOLARGE {
		return photo{fault: faultTooLarge, faultDetail: domain.ErrorMessage(err)}, nil
	}
	if err != nil {
		return photo{}, unavailable(fmt.Errorf("%s: %w", img.BlobKey, err))
	}
	q, err := a.inspect(data)
	if err != nil {
		f := faultUnreadable
		if domain.ErrorCode(err) == domain.ETOOLARGE {
			f = faultTooLarge
		}
		return photo{fault: f, faultDetail: domain.ErrorMessage(err)}, nil
	}
	return photo{q: q}, nil
}

// failure is an *analysis.Error for the worker that keeps its cause reachable, so
// errors.As finds the code and errors.Is still matches context.Canceled or the
// store's own error.
type failure struct {
	e     *analysis.Error
	cause error
}

func (f *failure) Error() string   { return f.e.Error() }
func (f *failure) Unwrap() []error { return []error{f.e, f.cause} }

// unavailable marks store trouble retryable: the photo is there or will be, and a
// result computed without it would be wrong for good.
func unavailable(err error) error {
	return &failure{&analysis.Error{Code: "blob_unavailable", Detail: err.Error(), Retryable: true}, err}
}

func interrupted(cause error, done, total int) error {
	detail := fmt.Sprintf("stopped after %d of %d photos: %v", done, total, cause)
	return &failure{&analysis.Error{Code: "interrupted", Detail: detail, Retryable: true}, cause}
}
