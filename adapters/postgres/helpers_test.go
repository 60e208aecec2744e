package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scanledger/scanledger/adapters/postgres"
	"github.com/scanledger/scanledger/adapters/postgres/pgtest"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// newDatabase creates an empty database for the test and drops it when the test ends.
// It returns the database's URL with a pool of maxConns connections. It fails the test,
// never skips it, when Postgres is unreachable: a skipped adapter would pass unnoticed.
func newDatabase(t testing.TB, maxConns int) string {
	t.Helper()
	u, err := url.Parse(pgtest.New(t, "scanledger_pgstore"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(maxConns))
	u.RawQuery = q.Encode()
	return u.String()
}

// openStore opens a Store on the database at dbURL, closed when the test ends.
func openStore(t testing.TB, dbURL string) *postgres.Store {
	t.Helper()
	return openClosing(t, postgres.Open, dbURL, "open store")
}

// openDB opens a DB on the database at dbURL, closed when the test ends.
func openDB(t testing.TB, dbURL string) *postgres.DB {
	t.Helper()
	return openClosing(t, postgres.OpenDB, dbURL, "open db")
}

// openClosing opens what open opens on dbURL, failing the test if it cannot, and
// closes it when the test ends.
func openClosing[T interface{ Close() }](t testing.TB, open func(context.Context, string) (T, error), dbURL, what string) T {
	t.Helper()
	v, err := open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Cleanup(v.Close)
	return v
}

// connect opens a plain connection to the database at dbURL, closed when the test ends.
func connect(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	// pgxpool.ParseConfig understands (and strips) the pool_* settings of dbURL.
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("parse %s: %v", dbURL, err)
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg.ConnConfig)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func newEvents(n int) []event.Data {
	events := make([]event.Data, n)
	for i := range events {
		id := domain.NewID()
		events[i] = event.Data{
			ID:            id,
			Type:          "Test",
			SchemaVersion: 1,
			Data:          fmt.Appendf(nil, `{"n":%d}`, i),
			Metadata:      fmt.Appendf(nil, `{"eventId":%q}`, id),
		}
	}
	return events
}

func ids(events []event.Data) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func recordedIDs(events []event.Recorded) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// readAll walks the all-stream after the cursor to its current end.
func readAll(t testing.TB, s *postgres.Store, after event.Cursor) []event.Recorded {
	t.Helper()
	var all []event.Recorded
	for {
		got, err := s.ReadAll(context.Background(), after, 500)
		if err != nil {
			t.Fatalf("ReadAll(after %q): %v", after, err)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		after = got[len(got)-1].Position
	}
}
