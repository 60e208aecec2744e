package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain/blob"
	"github.com/scanledger/scanledger/domain/personal"
)

// DELETE /users/me forgets the caller: scans, photos, account and personal key go; the
// ledger keeps its events (sealed address unreadable) and still verifies; another
// user reads everything as before.
func TestDeleteMeForgetsTheUserAndKeepsALedgerThatVerifies(t *testing.T) {
	a := newAccountsAPI(t)
	alice, bob := a.signup("alice@example.com"), a.signup("bob@example.com")
	aliceScan, bobScan := a.projectedScan(t, alice.AccessToken), a.projectedScan(t, bob.AccessToken)
	auditorTok := a.auditor("auditor@example.com")

	a.json("DELETE", "/users/me", alice.AccessToken, `{}`).want(t, http.StatusBadRequest)
	// The body is read as every other account body is: bounded, and strict about fields.
	a.json("DELETE", "/users/me", alice.AccessToken, `{"password":"secret1","confirm":true}`).want(t, http.StatusBadRequest)
	a.json("DELETE", "/users/me", alice.AccessToken, `{"password":"not-her-password"}`).want(t, http.StatusUnauthorized)
	a.json("DELETE", "/users/me", auditorTok, `{"password":"secret1"}`).want(t, http.StatusForbidden)
	a.json("DELETE", "/users/me", alice.AccessToken, `{"password":"secret1"}`).want(t, http.StatusOK)

	// Her token, her login and her scan are gone.
	acctEventually(t, "alice's token refused", func() bool {
		return a.json("GET", "/users/me", alice.AccessToken, "").status == http.StatusUnauthorized
	})
	a.json("POST", "/auth/login", "", `{"email":"alice@example.com","password":"secret1"}`).want(t, http.StatusUnauthorized)
	a.json("GET", "/scans/"+aliceScan, auditorTok, "").want(t, http.StatusNotFound)
	if err := a.blobs.List(context.Background(), "scans/"+aliceScan+"/", func(e blob.Entry) error {
		t.Errorf("photo left: %s", e.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Auditors still see her scan's history, deleted, with the address erased.
	var st struct {
		Address string `json:"address"`
		Deleted bool   `json:"deleted"`
	}
	a.json("GET", "/scans/"+aliceScan+"/state", auditorTok, "").want(t, http.StatusOK).data(t, &st)
	if st.Address != personal.Erased || !st.Deleted {
		t.Fatalf("auditor's state of the forgotten scan: %+v", st)
	}
	a.json("GET", "/scans/"+aliceScan+"/state?version=0", auditorTok, "").want(t, http.StatusOK).data(t, &st)
	if st.Address != personal.Erased {
		t.Fatalf("auditor's state at version 0: %+v", st)
	}
	if body := string(a.json("GET", "/scans/"+aliceScan+"/events", auditorTok, "").want(t, http.StatusOK).body); strings.Contains(body, "1 Test Street") {
		t.Fatalf("the events hold the address in clear: %s", body)
	}
	var v struct {
		Valid bool `json:"valid"`
	}
	a.json("GET", "/audit/verify", auditorTok, "").want(t, http.StatusOK).data(t, &v)
	if !v.Valid {
		t.Fatal("the ledger no longer verifies after an erasure")
	}
	var trail []struct {
		Action string `json:"action"`
	}
	a.json("GET", "/audit/access?userId="+alice.User.ID, auditorTok, "").want(t, http.StatusOK).data(t, &trail)
	erased := false
	for _, e := range trail {
		erased = erased || e.Action == "user.erase"
	}
	if !erased {
		t.Fatalf("erasure not in the access trail: %+v", trail)
	}

	// Bob reads everything, and so do auditors.
	a.json("GET", "/scans/"+bobScan, bob.AccessToken, "").want(t, http.StatusOK)
	a.json("GET", "/scans/"+bobScan+"/state", auditorTok, "").want(t, http.StatusOK).data(t, &st)
	if st.Address != "1 Test Street" {
		t.Fatalf("bob's address reads %q", st.Address)
	}
	a.json("GET", "/users/me", bob.AccessToken, "").want(t, http.StatusOK)
}
