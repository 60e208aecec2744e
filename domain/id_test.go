package domain_test

import (
	"testing"

	"github.com/scanledger/scanledger/domain"
)

func TestIDsAreCanonicalUUIDsOfTheirVersion(t *testing.T) {
	for i := 0; i < 100; i++ {
		v4, v7 := domain.NewID(), domain.NewEventID()
		if !domain.ValidID(v4) || v4[14] != '4' || !domain.ValidID(v7) || v7[14] != '7' {
			t.Fatalf("v4 %s, v7 %s", v4, v7)
		}
	}
}

func TestEventIDsMintedLaterSortLater(t *testing.T) {
	a := domain.NewEventID()
	for b := domain.NewEventID(); b[:13] == a[:13]; b = domain.NewEventID() {
	}
	if b := domain.NewEventID(); b < a {
		t.Fatalf("%s minted after %s sorts before it", b, a)
	}
}

func TestValidIDRejectsWhatIsNotAUUID(t *testing.T) {
	for _, s := range []string{"", "not-a-uuid", "6f1c1a52-3f43-4a36-9a55-3f0b1d1c0a0", "6f1c1a52x3f43-4a36-9a55-3f0b1d1c0a01", "6f1c1a52-3f43-4a36-9a55-3f0b1d1c0a0g"} {
		if domain.ValidID(s) {
			t.Fatalf("%q accepted", s)
		}
	}
}
