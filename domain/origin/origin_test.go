package origin_test

import (
	"testing"

	"github.com/scanledger/scanledger/domain/origin"
)

func TestPolicyComparesOriginsAsBrowsersSendThem(t *testing.T) {
	listed := origin.New([]string{"https://app.x/", " http://Local.test:8080 "})
	anyone := origin.New([]string{"*"})
	none := origin.New(nil)
	for _, c := range []struct {
		origin                  string
		listed, anyone, nothing bool
	}{
		{"https://app.x", true, true, false},
		{"https://APP.X", true, true, false},       // hosts and schemes have no case
		{"https://app.x:443", true, true, false},   // the default port is the same origin
		{"https://app.x:8443", false, true, false}, // another port is another origin
		{"http://app.x", false, true, false},       // and so is another scheme
		{"http://local.test:8080", true, true, false},
		{"http://local.test", false, true, false},
		{"https://evil.x", false, true, false},
		{"null", false, true, false},
		{"", false, false, false},
	} {
		if got := listed.Allows(c.origin); got != c.listed {
			t.Errorf("listed.Allows(%q) = %v, want %v", c.origin, got, c.listed)
		}
		if got := anyone.Allows(c.origin); got != c.anyone {
			t.Errorf("*.Allows(%q) = %v, want %v", c.origin, got, c.anyone)
		}
		if got := none.Allows(c.origin); got != c.nothing {
			t.Errorf("none.Allows(%q) = %v, want %v", c.origin, got, c.nothing)
		}
	}
}

func TestAConnectionFromNoPageOrFromTheHostItselfIsAllowed(t *testing.T) {
	none := origin.New(nil)
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"", "api.x", true},
		{"https://api.x", "api.x", true},
		{"http://API.x:8080", "api.x:8080", true},
		{"https://app.x", "api.x", false},
		{"null", "api.x", false},
	} {
		if got := none.AllowsConnection(c.origin, c.host); got != c.want {
			t.Errorf("AllowsConnection(%q, %q) = %v, want %v", c.origin, c.host, got, c.want)
		}
	}
}
