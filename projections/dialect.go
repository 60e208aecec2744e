package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dialect is the SQL engine a read-model database speaks. Every difference between
// SQLite and PostgreSQL that the projections need is decided in this file, so that every
// projector and query is written once, with $n placeholders (both engines accept them).
type Dialect string

// Dialects; the values are migrations.SQLite and migrations.Postgres.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// timeLayout is how SQLite stores timestamps: UTC text of fixed width, so that comparing
// and sorting the text compares and sorts the instants.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Time returns the value to bind for t. Both engines keep milliseconds (Postgres
// columns are timestamp(3) without time zone, as in the original schema, holding UTC),
// so t is truncated here and a value reads back exactly as it was written.
func (d Dialect) Time(t time.Time) any {
	t = t.UTC().Truncate(time.Millisecond)
	if d == SQLite {
		return t.Format(timeLayout)
	}
	return t
}

// NullTime is Time for a nullable column: nil binds NULL.
func (d Dialect) NullTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return d.Time(*t)
}

// Strings returns the value to bind for a string-array column: text[] in Postgres (the
// original schema's type, so analysts can write 'x' = ANY(col)), JSON text in SQLite.
// A nil slice is an empty array, never NULL.
func (d Dialect) Strings(ss []string) any {
	if ss == nil {
		ss = []string{}
	}
	if d == Postgres {
		return ss
	}
	b, _ := json.Marshal(ss) // a []string always encodes
	return string(b)
}

// StringsJSON returns a select expression that reads a string-array column as JSON
// text; scan it with ScanStrings.
func (d Dialect) StringsJSON(column string) string {
	if d == Postgres {
		return "array_to_json(" + column + ")"
	}
	return column
}

// AnyOf returns a condition true when column equals one of a list of strings bound to
// placeholder as Strings(list). One parameter instead of an IN list keeps the
// statement's text the same whatever the list's length, so it is parsed once.
//
// On Postgres, Tx sends a statement with this condition unprepared (see planned), so
// it is planned with its list every time.
func (d Dialect) AnyOf(column, placeholder string) string {
	if d == Postgres {
		return column + anyOfPostgres + placeholder + ")"
	}
	return column + " IN (SELECT value FROM json_each(" + placeholder + "))"
}

// anyOfPostgres is what AnyOf writes between the column and the placeholder.
const anyOfPostgres = " = ANY("

// planned returns the arguments to run query with. pgx prepares every statement and
// Postgres switches a prepared statement to a generic plan after a few runs; for
// "= ANY($1)" that plan cannot see the list and, made on a fresh read model without
// statistics, scans whole tables once they have grown. So a lookup written with AnyOf
// goes unprepared (pgx's exec mode: parse, bind and execute in one round trip, with
// parameter types left to the server), which Postgres plans with its values each
// time. Every other statement keeps its cached plan: forcing custom plans for the whole
// transaction, as before, re-planned each multi-row insert on every run.
func (d Dialect) planned(query string, args []any) []any {
	if d != Postgres || !strings.Contains(query, anyOfPostgres+"$") {
		return args
	}
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// syncLevels are the statements run on a projection transaction's connection before it
// begins and after it ends. In embedded mode the event store and the read model share
// one SQLite file and one write connection, opened at synchronous=FULL so that every
// acknowledged append is fsynced. A projection's commit needs no fsync: its rows and its
// checkpoint commit together, so a commit lost to a power cut loses both, and the runner
// applies those events again from the checkpoint. SQLite only changes the level outside a
// transaction, hence before and after; the event store's next commit syncs the WAL with
// these frames in it.
//
// behind: the transaction is a catch-up batch, thousands of events, whose commit writes
// more pages to the write-ahead log than SQLite's default checkpoint threshold (1,000
// pages). At the default every such commit also copied the log into the database, pages
// the next batch writes again; ten times the threshold lets one checkpoint copy a page
// once for several batches. The threshold goes back to the default after the commit, so
// live commits and appends checkpoint as before.
func (d Dialect) syncLevels(behind bool) (before, after string) {
	if d != SQLite {
		return "", ""
	}
	if behind {
		return "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = " + strconv.Itoa(10*sqliteAutocheckpoint),
			"PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = " + strconv.Itoa(sqliteAutocheckpoint)
	}
	return "PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL"
}

// sqliteAutocheckpoint is SQLite's default wal_autocheckpoint, in pages.
const sqliteAutocheckpoint = 1000

// JSON returns the value to bind for a JSON column (jsonb in Postgres, TEXT in SQLite).
// It is always text: SQLite would store bytes as a BLOB, and pgx sends text as JSON.
// nil is the JSON value null, not SQL NULL; use nil directly for SQL NULL.
func (d Dialect) JSON(raw []byte) any {
	if raw == nil {
		return "null"
	}
	return string(raw)
}

// SkipLocked ends a SELECT that picks rows to claim. Postgres needs the row lock so
// concurrent claimers skip each other's rows; SQLite has one writer at a time anyway.
func (d Dialect) SkipLocked() string {
	if d == Postgres {
		return "FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// ReadTx returns the options of a read transaction that sees one snapshot across
// several queries. SQLite gets a plain deferred BEGIN (the driver only honours
// ReadOnly), which never waits for the writer under WAL.
func (d Dialect) ReadTx() *sql.TxOptions {
	if d == Postgres {
		return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return &sql.TxOptions{ReadOnly: true}
}

// placeholder returns the n-th (from 1) bind placeholder of a statement built at run
// time. SQLite reads "$n" as a named parameter and resolves names by linear search, in
// its parser and in the driver's binder, so a multi-row insert with thousands of "$n"
// costs quadratic time; plain "?" binds by position. Static statements keep "$n"
// (few parameters, one text for both engines).
func (d Dialect) placeholder(n int) string {
	if d == SQLite {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

// typed returns a placeholder with the Postgres type it stands for. Postgres cannot
// infer the types of parameters in a VALUES list that is joined rather than inserted
// (UPDATE ... FROM (VALUES ...)), so they are cast; SQLite needs no cast.
func (d Dialect) typed(placeholder, pgType string) string {
	if d == Postgres {
		return placeholder + "::" + pgType
	}
	return placeholder
}

// batchSize is the runner's default number of events per transaction. SQLite has one
// writer for the whole file (in embedded mode the event store appends through the same
// lock), so its transactions stay short; Postgres blocks nobody and pays a WAL flush
// per commit, so larger transactions catch up several times faster.
func (d Dialect) batchSize() int {
	if d == Postgres {
		return 2000
	}
	return 500
}

// preparesInTx says whether Tx should prepare and cache statements itself: pgx already
// caches prepared statements per connection, the SQLite driver prepares on every call.
func (d Dialect) preparesInTx() bool { return d == SQLite }

// EachRow runs q with args through query (the Query or QueryContext method of a
// transaction or database) and calls f on each row, stopping at f's first error.
func EachRow(ctx context.Context, query func(context.Context, string, ...any) (*sql.Rows, error),
	q string, args []any, f func(*sql.Rows) error) error {
	rows, err := query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// List is EachRow returning one T per row, in order, filled in by scan; no row is an
// empty list.
func List[T any](ctx context.Context, query func(context.Context, string, ...any) (*sql.Rows, error),
	q string, args []any, scan func(*sql.Rows, *T) error) ([]T, error) {
	out := []T{}
	err := EachRow(ctx, query, q, args, func(rows *sql.Rows) error {
		var x T
		if err := scan(rows, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanTime returns a Scanner for a NOT NULL timestamp column, whichever way the driver
// hands it over (time.Time from pgx, text from SQLite).
func ScanTime(dst *time.Time) sql.Scanner { return timeScanner{dst: dst} }

// ScanNullTime returns a Scanner for a nullable timestamp column: NULL gives nil.
func ScanNullTime(dst **time.Time) sql.Scanner { return timeScanner{null: dst} }

type timeScanner struct {
	dst  *time.Time
	null **time.Time
}

func (s timeScanner) Scan(v any) error {
	var t time.Time
	switch v := v.(type) {
	case nil:
		if s.null == nil {
			return fmt.Errorf("scan time: unexpected NULL")
		}
		*s.null = nil
		return nil
	case time.Time:
		t = v.UTC()
	case string:
		p, err := time.Parse(timeLayout, v)
		if err != nil {
			return fmt.Errorf("scan time: %w", err)
		}
		t = p
	case []byte:
		p, err := time.Parse(timeLayout, string(v))
		if err != nil {
			return fmt.Errorf("scan time: %w", err)
		}
		t = p
	default:
		return fmt.Errorf("scan time: unsupported type %T", v)
	}
	if s.null != nil {
		*s.null = &t
	} else {
		*s.dst = t
	}
	return nil
}

// ScanStrings returns a Scanner for a column selected with StringsJSON. NULL gives an
// empty slice, so callers always get an array.
func ScanStrings(dst *[]string) sql.Scanner { return stringsScanner{dst} }

type stringsScanner struct{ dst *[]string }

func (s stringsScanner) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*s.dst = []string{}
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan strings: unsupported type %T", v)
	}
	out := []string{}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("scan strings: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	*s.dst = out
	return nil
}

// ScanJSON returns a Scanner for a JSON column. SQL NULL gives nil; the JSON value null
// gives the bytes "null".
func ScanJSON(dst *json.RawMessage) sql.Scanner { return jsonScanner{dst} }

type jsonScanner struct{ dst *json.RawMessage }

func (s jsonScanner) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.dst = nil
	case string:
		*s.dst = json.RawMessage(v)
	case []byte:
		*s.dst = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("scan json: unsupported type %T", v)
	}
	return nil
}
