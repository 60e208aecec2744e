package httpapi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/scanledger/scanledger/domain/blob"
)

// SweepOrphanPhotos removes the photos of uploads that never got their ImagesUploaded
// event: a crash (or a lost store) between storing an upload's photos and appending the
// event leaves them under scans/<scan>/<upload>/ with nothing pointing at them. Which
// uploads a scan still uses is decided by its event stream, the source of truth, never
// by a read model that may lag. An upload directory is touched only when its newest
// object (partials included) is older than grace: photos are stored one after another
// and the event follows the last one at once, so a directory written to within grace may
// belong to an upload still in progress. It returns how many upload directories it
// removed; a failure to remove one is logged and the sweep goes on.
func (s *Server) SweepOrphanPhotos(ctx context.Context, grace time.Duration) (int, error) {
	newest := map[string]time.Time{} // upload prefix -> newest write under it
	err := s.Blobs.List(ctx, "scans/", func(e blob.Entry) error {
		// scans/<scan>/<upload>/<photo>: anything else is not an upload's.
		parts := strings.Split(e.Key, "/")
		if len(parts) != 4 {
			return nil
		}
		p := strings.Join(parts[:3], "/") + "/"
		if e.ModTime.After(newest[p]) {
			newest[p] = e.ModTime
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep photos: %w", err)
	}
	cutoff := time.Now().Add(-grace)
	inUse := map[string]map[string]bool{} // scan id -> its uploads' prefixes in use
	removed := 0
	for p, t := range newest {
		if t.After(cutoff) {
			continue
		}
		scanID := strings.Split(p, "/")[1]
		used, ok := inUse[scanID]
		if !ok {
			sc, err := s.Scans.Load(ctx, scanID)
			if err != nil {
				return removed, fmt.Errorf("sweep photos: load scan %s: %w", scanID, err)
			}
			used = map[string]bool{}
			if !sc.Deleted { // a deleted scan's photos are all garbage
				for _, up := range uploadPrefixes(sc.Rooms) {
					used[up] = true
				}
			}
			inUse[scanID] = used
		}
		if used[p] {
			continue
		}
		if err := s.Blobs.DeletePrefix(ctx, p); err != nil {
			s.log.ErrorContext(ctx, "sweep photos: remove an orphan upload", "prefix", p, "err", err)
			continue
		}
		s.log.InfoContext(ctx, "sweep photos: removed an upload no event references", "prefix", p, "last_write", t)
		removed++
	}
	return removed, nil
}
