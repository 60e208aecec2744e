package pgtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
)

func exists(t *testing.T, conn *pgx.Conn, name string) bool {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestNew_DropsTheDatabaseWhenTheTestEndsAndSweepsAbandonedOnes(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// A run killed two hours ago left one database; one started a minute ago is still
	// in use.
	now := time.Now()
	abandoned := fmt.Sprintf("pgtest_t%d_0123456789ab", now.Add(-pgtest.StaleAfter-time.Hour).Unix())
	running := fmt.Sprintf("pgtest_t%d_0123456789ab", now.Add(-time.Minute).Unix())
	for _, name := range []string{abandoned, running} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+running+" WITH (FORCE)") })

	var created string
	t.Run("a test", func(t *testing.T) {
		u := pgtest.New(t, "pgtest")
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&created); err != nil {
			t.Fatal(err)
		}
	})
	if exists(t, conn, created) {
		t.Errorf("%s outlived its test", created)
	}
	if exists(t, conn, abandoned) {
		t.Errorf("the abandoned %s was not swept", abandoned)
	}
	if !exists(t, conn, running) {
		t.Errorf("%s, of a run still in progress, was dropped", running)
	}
}
