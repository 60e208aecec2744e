package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scanledger/scanledger/adapters/httpapi"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// One account cannot hold thousands of live streams: beyond the per-user cap a new
// stream is refused with 429, another user is unaffected, and a closed stream frees its
// place. The per-address cap works the same way.
func TestLiveStreamsAreCappedPerUserAndPerAddress(t *testing.T) {
	api := newHardenedAPI(t, "", func(c *httpapi.Config) { c.LivePerUser, c.LivePerIP = 3, 5 })
	alice := api.signup("alice@example.com").AccessToken
	bob := api.signup("bob@example.com").AccessToken
	open := func(bearer string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", api.url+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp, cancel
	}
	var cancels []context.CancelFunc
	for i := 0; i < 3; i++ {
		resp, cancel := open(alice)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
		cancels = append(cancels, cancel)
	}
	if resp, _ := open(alice); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth stream of one user: %d, want 429", resp.StatusCode)
	}
	for i := 0; i < 2; i++ {
		if resp, _ := open(bob); resp.StatusCode != http.StatusOK {
			t.Fatalf("another user's stream: %d", resp.StatusCode)
		}
	}
	// Five streams from this address now: the address cap refuses a sixth.
	if resp, _ := open(bob); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sixth stream from one address: %d, want 429", resp.StatusCode)
	}
	cancels[0]()
	acctEventually(t, "a closed stream frees its place", func() bool {
		resp, cancel := open(alice)
		defer cancel()
		return resp.StatusCode == http.StatusOK
	})
}

// Socket.IO is served beside the router, so AdmitLive works out the client address
// itself, as the router does: X-Forwarded-For counts only when the peer is a trusted
// proxy, and then its nearest untrusted address is the client.
func TestAdmitLiveCountsAddressesAsTheRouterDoes(t *testing.T) {
	api := newHardenedAPI(t, "", func(c *httpapi.Config) {
		c.LivePerIP, c.TrustedProxies = 1, []string{"10.0.0.0/8"}
	})
	admit := func(peer, forwarded string) error {
		r := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling", nil)
		r.RemoteAddr = peer + ":40000"
		if forwarded != "" {
			r.Header.Set("X-Forwarded-For", forwarded)
		}
		_, err := api.api.AdmitLive(t.Context(), auth.Claims{UserID: domain.NewID()}, r)
		return err
	}
	for _, tc := range []struct {
		peer, forwarded string
		want            string // "" admitted, else the error code
	}{
		{"10.0.0.1", "203.0.113.7", ""},
		{"10.0.0.2", "203.0.113.7, 10.0.0.1", domain.ERATELIMIT}, // same client behind two proxies
		{"10.0.0.1", "203.0.113.8", ""},
		{"198.51.100.1", "203.0.113.9", ""},                 // untrusted peer: its forged header is ignored
		{"198.51.100.1", "203.0.113.10", domain.ERATELIMIT}, // still the same peer
	} {
		if got := domain.ErrorCode(admit(tc.peer, tc.forwarded)); got != tc.want {
			t.Errorf("peer %s forwarded %q: %q, want %q", tc.peer, tc.forwarded, got, tc.want)
		}
	}
}
