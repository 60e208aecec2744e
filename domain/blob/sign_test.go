package blob_test

import (
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/blob"
)

// Every store refuses the same signing requests, so a caller that works in embedded
// mode does not start failing when production switches to S3.
func TestCheckSignAcceptsAValidKeyWithATTLUpToSevenDays(t *testing.T) {
	for _, ttl := range []time.Duration{time.Nanosecond, time.Minute, blob.MaxSignedTTL} {
		if err := blob.CheckSign("a.jpg", ttl); err != nil {
			t.Errorf("CheckSign(a.jpg, %v) = %v, want nil", ttl, err)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Second, blob.MaxSignedTTL + time.Nanosecond} {
		if err := blob.CheckSign("a.jpg", ttl); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("CheckSign(a.jpg, %v) = %v, want %s", ttl, err, domain.EINVALID)
		}
	}
	if err := blob.CheckSign("../a.jpg", time.Minute); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("CheckSign of a traversing key = %v, want %s", err, domain.EINVALID)
	}
	if blob.MaxSignedTTL != 7*24*time.Hour {
		t.Errorf("MaxSignedTTL = %v, want the 7 days S3 presigning allows", blob.MaxSignedTTL)
	}
}
