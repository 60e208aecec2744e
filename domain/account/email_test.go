package account_test

import (
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain/account"
)

func TestValidEmailFollowsClassValidatorsIsEmail(t *testing.T) {
	for _, s := range []string{
		"a@b.co", "Ada.Lovelace+scans@example.co.uk", "x_y-z@sub-domain.example.org", "o'brien@example.ie",
		"josé@exemple.fr", "user@xn--80ak6aa92e.com", "user@bücher.de",
	} {
		if !account.ValidEmail(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{
		"", "plain", "@example.com", "a@", "a@b", "a@b.c", "a@b.12", "a..b@example.com", ".a@example.com", "a.@example.com",
		"a b@example.com", "a@exa mple.com", "a@-example.com", "a@example-.com", "a@example..com", "a@[127.0.0.1]",
		"\"quoted\"@example.com", "a@b@example.com", strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 64) + ".com", "a@example.com\n",
	} {
		if account.ValidEmail(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
