package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Forgetting a user, by `scanledger forget` while the service runs, in every mode:
// afterwards nothing readable of theirs is left in the databases, the event store or
// the photo store, the ledger still verifies, auditors see the erased fields marked,
// and another user reads everything as before.
func TestForgetLeavesNothingReadableAndALedgerThatVerifies(t *testing.T) {
	inEveryMode(t, forgetEndToEnd)
}

const (
	forgottenAddress = "17 Forgetme Lane"
	forgottenName    = "Forgetmenot"
	keptAddress      = "42 Keepme Road"
)

func forgetEndToEnd(t *testing.T, env []string) {
	dir := t.TempDir()
	srv := startServer(t, dir, env...)
	signup := func(email, last string) (tok, id string) {
		var session struct {
			AccessToken string
			User        struct{ ID string }
		}
		r := srv.json("POST", "/api/v1/auth/signup", "", `{"email":"`+email+`","password":"secret1","firstName":"Ottilie","lastName":"`+last+`"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("signup: %d %s", r.Status, r.Body)
		}
		r.data(t, &session)
		return session.AccessToken, session.User.ID
	}
	scanOf := func(tok, address string) (id, photoURL string) {
		var created struct{ ScanID string }
		r := srv.json("POST", "/api/v1/scans", tok, `{"address":"`+address+`"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		r.data(t, &created)
		path := "/api/v1/scans/" + created.ScanID
		if r := srv.upload(path+"/images", tok, photos(t)[:1], nil); r.Status != http.StatusCreated {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		if r := srv.json("POST", path+"/process", tok, `{}`); r.Status != http.StatusCreated {
			t.Fatalf("process: %d %s", r.Status, r.Body)
		}
		var got struct {
			Status string
			House  struct{ Address string }
			Images []struct{ URL string }
		}
		waitFor(t, 2*time.Minute, "the scan analysed", func() bool {
			r := srv.json("GET", path, tok, "")
			if r.Status != http.StatusOK {
				return false
			}
			r.data(t, &got)
			return got.Status == "succeeded" && len(got.Images) == 1
		})
		if got.House.Address != address {
			t.Fatalf("address before: %q", got.House.Address)
		}
		return created.ScanID, got.Images[0].URL
	}
	alice, aliceID := signup("alice@example.com", forgottenName)
	bob, _ := signup("bob@example.com", "Keeper")
	aliceScan, alicePhoto := scanOf(alice, forgottenAddress)
	bobScan, _ := scanOf(bob, keptAddress)
	if resp, err := http.Get(alicePhoto); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("photo before: %v %v", resp, err)
	}
	signup("auditor@example.com", "Auditor") // the role is read at login: the auditor logs in again below
	if _, e, err := cli(t, dir, env, "role", "--data-dir", dir, "--email", "auditor@example.com", "--role", "auditor"); err != nil {
		t.Fatalf("role: %v\n%s", err, e)
	}

	out, errOut, err := cli(t, dir, env, "forget", "--data-dir", dir, "--email", "alice@example.com")
	if err != nil || !strings.Contains(out, aliceID) {
		t.Fatalf("forget: %v\n%s%s", err, out, errOut)
	}

	// Her token, her scan and her photos are gone.
	waitFor(t, 30*time.Second, "alice's token refused", func() bool {
		return srv.json("GET", "/api/v1/users/me", alice, "").Status == http.StatusUnauthorized
	})
	if resp, err := http.Get(alicePhoto); err != nil || resp.StatusCode == http.StatusOK {
		t.Fatalf("photo after: %v %v", resp, err)
	}

	// The ledger verifies; history and the auditor's view mark the address erased.
	if out, e, err := cli(t, dir, env, "verify", "--all", "--data-dir", dir); err != nil || !strings.Contains(out+e, " 0 broken") {
		t.Fatalf("verify --all: %v\n%s%s", err, out, e)
	}
	if out, e, err := cli(t, dir, env, "history", "--scan", aliceScan, "--version", "0", "--data-dir", dir); err != nil ||
		!strings.Contains(out, `address "[erased]"`) {
		t.Fatalf("history of the forgotten scan: %v\n%s%s", err, out, e)
	}
	var st struct {
		Address string
		Deleted bool
	}
	var login struct{ AccessToken string }
	r := srv.json("POST", "/api/v1/auth/login", "", `{"email":"auditor@example.com","password":"secret1"}`)
	r.data(t, &login)
	auditorTok := login.AccessToken
	r = srv.json("GET", "/api/v1/scans/"+aliceScan+"/state", auditorTok, "")
	r.data(t, &st)
	if r.Status != http.StatusOK || st.Address != "[erased]" || !st.Deleted {
		t.Fatalf("auditor's state of the forgotten scan: %d %s", r.Status, r.Body)
	}

	// Bob reads everything; so does an auditor of his scan.
	var kept struct{ House struct{ Address string } }
	r = srv.json("GET", "/api/v1/scans/"+bobScan, bob, "")
	r.data(t, &kept)
	if kept.House.Address != keptAddress {
		t.Fatalf("bob's address: %s", r.Body)
	}
	if out, _, err := cli(t, dir, env, "history", "--scan", bobScan, "--version", "0", "--data-dir", dir); err != nil ||
		!strings.Contains(out, keptAddress) {
		t.Fatalf("history of bob's scan: %v\n%s", err, out)
	}

	// Nothing readable of hers is left: not in the event store (every event as stored,
	// through an export), not in the database files or tables.
	out, e, err := cli(t, dir, env, "export", "--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z", "--data-dir", dir)
	if err != nil || !strings.Contains(out, aliceScan) || !strings.Contains(out, bobScan) {
		t.Fatalf("export: %v\n%s", err, e)
	}
	for _, secret := range []string{forgottenAddress, forgottenName, keptAddress} {
		if strings.Contains(out, secret) {
			t.Errorf("the event store holds %q in clear", secret)
		}
	}
	forgotten := []string{forgottenAddress, forgottenName, "alice@example.com"}
	if pg := envValue(env, "SCANLEDGER_READMODEL", envValue(env, "SCANLEDGER_EVENTSTORE", "")); pg != "" {
		for _, u := range []string{envValue(env, "SCANLEDGER_EVENTSTORE", ""), pg} {
			if strings.HasPrefix(u, "postgres") {
				findInPostgres(t, u, forgotten)
			}
		}
	} else {
		findInFiles(t, dir, forgotten)
	}
	// The check finds what is there: Bob's name is still readable where it belongs.
	if pg := envValue(env, "SCANLEDGER_READMODEL", envValue(env, "SCANLEDGER_EVENTSTORE", "")); pg != "" {
		if n := countInPostgres(t, pg, keptAddress); n == 0 {
			t.Error("the table scan does not find bob's address: it proves nothing")
		}
	} else if n := countInFiles(t, dir, keptAddress); n == 0 {
		t.Error("the file scan does not find bob's address: it proves nothing")
	}
}

// findInFiles fails for every file under dir (the SQLite database, its write-ahead
// log and shared memory, the photos) that holds one of secrets.
func findInFiles(t *testing.T, dir string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if n := countInFiles(t, dir, s); n > 0 {
			t.Errorf("%q is readable in %d files of the data dir", s, n)
		}
	}
}

func countInFiles(t *testing.T, dir, secret string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a file the server removed meanwhile
			}
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Logf("%q in %s", secret, p)
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// findInPostgres fails when any row of any table of the database at u holds one of
// secrets, as text or as bytes: what a dump of the tables would show.
func findInPostgres(t *testing.T, u string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if n := countInPostgres(t, u, s); n > 0 {
			t.Errorf("%q is readable in %d rows of %s", s, n, u)
		}
	}
}

func countInPostgres(t *testing.T, u, secret string) int {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string][]string{}
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			t.Fatal(err)
		}
		if typ == "bytea" {
			conds[table] = append(conds[table], fmt.Sprintf(`position(convert_to($1, 'UTF8') in %q) > 0`, col))
		} else {
			conds[table] = append(conds[table], fmt.Sprintf(`%q::text LIKE '%%' || $1 || '%%'`, col))
		}
	}
	rows.Close()
	if len(conds) == 0 {
		t.Fatalf("no tables in %s", u)
	}
	total := 0
	for table, cs := range conds {
		var n int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %q WHERE %s`, table, strings.Join(cs, " OR ")), secret).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n > 0 {
			t.Logf("%q in %d rows of %s", secret, n, table)
		}
		total += n
	}
	return total
}
