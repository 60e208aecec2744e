package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
)

// With the photo store away, an upload is refused with 503 and Retry-After as soon as
// storing its photo fails. The server does not first ask the store, which is away, to
// remove the upload's photos: that request would only hold the answer for the store
// client's retries, and the orphan sweep removes whatever is left once it is back.
func TestAnUploadRefusedBecauseThePhotoStoreIsAwayIsAnsweredWithoutCleaningUpFirst(t *testing.T) {
	away := &awayBlobs{}
	api := newHardenedAPI(t, "", func(c *httpapi.Config) {
		away.Store = c.Blobs
		c.Blobs = away
	})
	bearer := api.signup("away@example.com").AccessToken
	scanID := api.newScan(bearer, "1 Test Street")
	body, contentType := photoForm(t, "room1-1.jpeg", "")
	r := api.do("POST", "/scans/"+scanID+"/images", bearer, contentType, body).want(t, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("a 503 without Retry-After")
	}
	if got := away.deletes(); len(got) > 0 {
		t.Errorf("the answer waited for removing %v from a store that is away", got)
	}
}

// awayBlobs is a photo store that has gone away: every Put is unavailable. It records
// the removals it is asked for.
type awayBlobs struct {
	blob.Store
	mu      sync.Mutex
	removed []string
}

func (a *awayBlobs) Put(context.Context, string, io.Reader, int64) (blob.Info, error) {
	return blob.Info{}, domain.Errorf(domain.EUNAVAILABLE, "the blob store is unavailable")
}

func (a *awayBlobs) DeletePrefix(_ context.Context, prefix string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.removed = append(a.removed, prefix)
	return domain.Errorf(domain.EUNAVAILABLE, "the blob store is unavailable")
}

func (a *awayBlobs) deletes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.removed...)
}
