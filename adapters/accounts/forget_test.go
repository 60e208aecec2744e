package accounts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scanledger/scanledger/adapters/accounts"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/personal/personaltest"
)

func TestPersonalKeysBehaveAsKeysOnEveryDatabase(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		w, r := newSQLite(t)
		personaltest.Run(t, &accounts.Keys{Write: w, Read: r})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db := newPostgres(t)
		personaltest.Run(t, &accounts.Keys{Write: db, Read: db})
	})
}

func TestDeletingAnAccountNeedsItsPassword(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		s := e.signup(t, "ada@example.com", "secret1")
		ctx := context.Background()
		if err := e.store.CheckPassword(ctx, s.User.ID, "wrong-password", "10.0.0.1"); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Fatalf("wrong password: %v, want unauthorized", err)
		}
		if err := e.store.CheckPassword(ctx, s.User.ID, "secret1", "10.0.0.1"); err != nil {
			t.Fatalf("right password: %v", err)
		}
		// Guesses count as failed logins of the email: past the limit, even the right
		// password waits.
		for i := 0; i < accounts.DefaultLoginLimits().PerEmail; i++ {
			_ = e.store.CheckPassword(ctx, s.User.ID, "wrong-password", "10.0.0.2")
		}
		var rl *account.RateLimitError
		if err := e.store.CheckPassword(ctx, s.User.ID, "secret1", "10.0.0.3"); !errors.As(err, &rl) {
			t.Fatalf("after too many guesses: %v, want a rate limit", err)
		}
		if _, err := e.store.Login(ctx, "ada@example.com", "secret1", "10.0.0.4"); !errors.As(err, &rl) {
			t.Fatalf("login after too many guesses at deletion: %v, want a rate limit", err)
		}
	})
}

func TestForgetDeletesTheAccountAndEveryReadRowAboutTheUserOnly(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		gone := e.signup(t, "ada@example.com", "secret1").User.ID
		kept := e.signup(t, "bob@example.com", "secret1").User.ID
		now := e.db.Dialect.Time(e.clock.Now())
		scanOf := map[string]string{}
		for _, u := range []string{gone, kept} {
			house, sc, room := domain.NewID(), domain.NewID(), domain.NewID()
			scanOf[u] = sc
			e.exec(t, `INSERT INTO houses (id, user_id, address, created_at, updated_at) VALUES ($1, $2, '1 Main St', $3, $3)`, house, u, now)
			e.exec(t, `INSERT INTO scans (id, house_id, status, inputs_snapshot, created_at, user_id, version, updated_at)
				VALUES ($1, $2, 'queued', '{"address":"1 Main St"}', $3, $4, 0, $3)`, sc, house, now, u)
			// The rows under a scan: on PostgreSQL no foreign key cascades to them
			// (docs/read-model.md), so Forget must delete them itself.
			e.exec(t, `INSERT INTO rooms (id, scan_id, ordinal, label, created_at) VALUES ($1, $2, 0, 'Kitchen', $3)`, room, sc, now)
			e.exec(t, `INSERT INTO house_room_images (id, scan_id, room_id, url, created_at, blob_key, content_type, bytes, sha256, ordinal)
				VALUES ($1, $2, $3, 'k', $4, 'k', 'image/jpeg', 1, 'ab', 0)`, domain.NewID(), sc, room, now)
			e.exec(t, `INSERT INTO house_scan_summary (id, scan_id, summary_json, derived_at) VALUES ($1, $2, '{}', $3)`, domain.NewID(), sc, now)
			e.exec(t, `INSERT INTO agents_runs (id, scan_id, agent_name, created_at, attempt) VALUES ($1, $2, 'vision', $3, 1)`, domain.NewID(), sc, now)
			e.exec(t, `INSERT INTO user_feed (user_id, seq, scan_id, event, payload, created_at) VALUES ($1, 1, $2, 'scan:uploaded', '{}', $3)`, u, sc, now)
			e.exec(t, `INSERT INTO user_feed_cursors (user_id, last_seq) VALUES ($1, 1)`, u)
		}
		ids, err := e.store.ScansOf(ctx, gone)
		if err != nil || len(ids) != 1 {
			t.Fatalf("scans of the user: %v %v", ids, err)
		}
		if err := e.store.Forget(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Forget(ctx, gone); err != nil {
			t.Fatalf("forgetting twice: %v", err)
		}
		count := func(q, u string) int {
			var n int
			if err := e.db.QueryRowContext(ctx, q, u).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, q := range []string{
			`SELECT count(*) FROM users WHERE id = $1`,
			`SELECT count(*) FROM houses WHERE user_id = $1`,
			`SELECT count(*) FROM scans WHERE user_id = $1`,
			`SELECT count(*) FROM user_feed WHERE user_id = $1`,
			`SELECT count(*) FROM user_feed_cursors WHERE user_id = $1`,
			`SELECT count(*) FROM refresh_tokens WHERE user_id = $1`,
		} {
			if n := count(q, gone); n != 0 {
				t.Errorf("%s: %d rows left of the forgotten user", q, n)
			}
			if n := count(q, kept); n == 0 {
				t.Errorf("%s: the other user's rows went too", q)
			}
		}
		for _, table := range []string{"rooms", "house_room_images", "house_scan_summary", "agents_runs"} {
			q := `SELECT count(*) FROM ` + table + ` WHERE scan_id = $1`
			if n := count(q, scanOf[gone]); n != 0 {
				t.Errorf("%s: %d rows left under the forgotten user's scan", table, n)
			}
			if n := count(q, scanOf[kept]); n == 0 {
				t.Errorf("%s: the rows under the other user's scan went too", table)
			}
		}
		if _, err := e.store.Login(ctx, "ada@example.com", "secret1", "127.0.0.1"); err == nil {
			t.Fatal("a forgotten user logged in")
		}
	})
}
