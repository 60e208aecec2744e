package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scanledger/scanledger/adapters/sqlite"
)

// queryCmd runs one read-only SQL statement against the embedded read model and prints
// the rows as an aligned table or as CSV. The PostgreSQL read model has its own
// read-only role for this (docs/analytics.md).
type queryCmd struct{ format string }

func (*queryCmd) takesArgs() {}

func (c *queryCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "format", "table", "output: table or csv")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: scanledger query [flags] "SELECT ..."`)
		fs.PrintDefaults()
	}
}

func (c *queryCmd) execute(ctx context.Context, cfg Config, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	rest := fs.Args()
	if len(rest) > 1 {
		return fmt.Errorf("query: one statement, quoted as one argument")
	}
	if len(rest) != 1 || strings.TrimSpace(rest[0]) == "" {
		fs.Usage()
		return flag.ErrHelp
	}
	if c.format != "table" && c.format != "csv" {
		return fmt.Errorf("query: --format must be table or csv")
	}
	stmt := rest[0]
	if err := readOnlyStatement(stmt); err != nil {
		return err
	}
	path, err := cfg.embeddedReadModel()
	if err != nil {
		return err
	}
	db, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, stmt)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	if c.format == "csv" {
		return writeQueryCSV(stdout, rows)
	}
	return writeQueryTable(stdout, rows)
}

// embeddedReadModel is the SQLite file that holds the read model, or an error when the
// read model is PostgreSQL.
func (c *Config) embeddedReadModel() (string, error) {
	v := c.ReadModel
	if v == "" {
		v = c.EventStore
	}
	path, ok := c.sqlitePath(v)
	if !ok {
		return "", errors.New("the read model is not embedded SQLite; connect to PostgreSQL as an analyst instead (docs/analytics.md)")
	}
	return path, nil
}

// readOnlyStatement refuses anything but a query before SQLite sees it. The connection
// is read-only and query_only as well; this check also keeps out ATTACH, which would
// create files, and gives a clear message.
func readOnlyStatement(stmt string) error {
	s := strings.TrimSpace(stmt)
	for strings.HasPrefix(s, "--") || strings.HasPrefix(s, "/*") {
		if strings.HasPrefix(s, "--") {
			_, s, _ = strings.Cut(s, "\n")
		} else {
			_, s, _ = strings.Cut(s, "*/")
		}
		s = strings.TrimSpace(s)
	}
	word := strings.ToUpper(strings.FieldsFunc(s+" ", func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '(' || r == '\r' })[0])
	switch word {
	case "SELECT", "WITH", "VALUES", "EXPLAIN":
		return nil
	}
	return fmt.Errorf("query: only SELECT, WITH, VALUES or EXPLAIN statements run here (got %s)", word)
}

func writeQueryTable(w io.Writer, rows *sql.Rows) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	n, err := eachRow(rows, len(cols), func(vals []string, _ []bool) {
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	})
	if err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(%d rows)\n", n)
	return nil
}

func writeQueryCSV(w io.Writer, rows *sql.Rows) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	if _, err := eachRow(rows, len(cols), func(vals []string, null []bool) {
		for i := range vals {
			if null[i] {
				vals[i] = ""
			}
		}
		_ = cw.Write(vals) // the error is sticky; cw.Error reports it below
	}); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// eachRow calls f with every row's values as text (NULL as "NULL", flagged in null).
func eachRow(rows *sql.Rows, n int, f func(vals []string, null []bool)) (int, error) {
	raw := make([]any, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	count := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return count, fmt.Errorf("query: %w", err)
		}
		vals := make([]string, n)
		null := make([]bool, n)
		for i, v := range raw {
			switch v := v.(type) {
			case nil:
				vals[i], null[i] = "NULL", true
			case []byte:
				vals[i] = string(v)
			case string:
				vals[i] = v
			case int64:
				vals[i] = strconv.FormatInt(v, 10)
			case float64:
				vals[i] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				vals[i] = strconv.FormatBool(v)
			case time.Time:
				vals[i] = v.UTC().Format(time.RFC3339Nano)
			default:
				vals[i] = fmt.Sprint(v)
			}
		}
		f(vals, null)
		count++
	}
	if err := rows.Err(); err != nil {
		return count, fmt.Errorf("query: %w", err)
	}
	return count, nil
}
