package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/scanledger/scanledger/adapters/httpapi"
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
