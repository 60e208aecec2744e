package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/migrations"
)

// TestAnalystRole_ReadsTheAnalyticsViewsAndTablesButNoSecretsAndWritesNothing connects
// as a login role that is a member of scanledger_analyst, as docs/analytics.md tells
// operators to set one up, and tries what an analyst (or a BI tool) would.
func TestAnalystRole_ReadsTheAnalyticsViewsAndTablesButNoSecretsAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t, "scanledger_analyst")
	db, err := postgres.OpenDB(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, migrations.EventStore, migrations.ReadModel); err != nil {
		t.Fatal(err)
	}
	app := db.SQL()
	for _, q := range []string{
		`INSERT INTO users (id, email, email_key, password_hash, role, created_at, updated_at)
		 VALUES ('00000000-0000-4000-8000-000000000001', 'a@example.com', 'a@example.com', '$argon2id$secret', 'user', now(), now())`,
		`INSERT INTO houses (id, user_id, address, house_type, status, created_at, updated_at)
		 VALUES ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', '1 Main St', 'apartment', 'active', now(), now())`,
		`INSERT INTO scans (id, house_id, status, inputs_snapshot, started_at, finished_at, created_at, user_id, attempt, version, updated_at)
		 VALUES ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002', 'succeeded',
		         '{"address":"1 Main St"}', now() - interval '10 seconds', now(), now(), '00000000-0000-4000-8000-000000000001', 1, 3, now())`,
	} {
		if _, err := app.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// A person's login role, as the docs create it.
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	login := "analyst_" + hex.EncodeToString(b)
	if _, err := app.ExecContext(ctx, `CREATE ROLE `+login+` LOGIN IN ROLE scanledger_analyst`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = app.ExecContext(context.Background(), `DROP ROLE IF EXISTS `+login) })
	u, _ := url.Parse(dbURL)
	u.User = url.User(login)
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	for _, q := range []string{
		`SELECT scan_id, status, duration_seconds, rooms, images FROM scan_outcomes`,
		`SELECT * FROM agent_costs_daily`,
		`SELECT * FROM scan_costs`,
		`SELECT * FROM scan_attempts`,
		`SELECT * FROM scan_checklist_items`,
		`SELECT * FROM rooms`,
		`SELECT * FROM house_room_images`,
		`SELECT * FROM house_scan_summary`,
		`SELECT * FROM agents_runs`,
		`SELECT * FROM projection_checkpoints`,
		`SELECT id, status, attempt, failure_code, detected_house_types FROM scans`,
		`SELECT id, house_type, status FROM houses`,
	} {
		rows, err := conn.Query(ctx, q)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
		}
		if err != nil {
			t.Errorf("analyst: %s: %v", q, err)
		}
	}
	var outcomes int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM scan_outcomes`).Scan(&outcomes); err != nil || outcomes != 1 {
		t.Errorf("analyst sees %d outcomes (%v), want 1", outcomes, err)
	}

	for _, q := range []string{
		`SELECT password_hash FROM users`,
		`SELECT email FROM users`,
		`SELECT * FROM refresh_tokens`,
		`SELECT * FROM login_attempts`,
		`SELECT * FROM checklists`,
		`SELECT * FROM events`,
		`SELECT * FROM user_feed`,
		`SELECT * FROM scan_jobs`,
		`SELECT address FROM houses`,
		`SELECT * FROM houses`,
		`SELECT inputs_snapshot FROM scans`,
		`INSERT INTO scan_attempts (scan_id, attempt, retry, status, started_at) VALUES ('00000000-0000-4000-8000-000000000003', 9, 0, 'running', now())`,
		`UPDATE scans SET status = 'failed'`,
		`DELETE FROM rooms`,
		`TRUNCATE agents_runs`,
		`ALTER TABLE events DISABLE TRIGGER events_immutable`,
		`CREATE TABLE mine (x int)`,
		`UPDATE projection_checkpoints SET position = ''`,
	} {
		_, err := conn.Exec(ctx, q)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("analyst: %s: %v, want permission denied", q, err)
		}
	}
}
