package projections

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// DB is a read-model database: a handle and the dialect its SQL is written in. With
// SQLite, projections write through the single-connection Write handle and queries read
// through Read; with Postgres both are the same pool.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// Tx is the transaction a projection writes in. It exposes statements only: the runner
// alone begins and commits, so a batch of events and its checkpoint commit together.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	stmts   map[string]*sql.Stmt
	cache   *stmtCache // statements that outlive the transaction (nil: none)
	missed  []string   // texts prepared in this transaction that the cache lacks
}

func newTx(tx *sql.Tx, d Dialect, cache *stmtCache) *Tx {
	return &Tx{tx: tx, dialect: d, stmts: map[string]*sql.Stmt{}, cache: cache}
}

// Dialect is the dialect of the database the transaction writes to.
func (t *Tx) Dialect() Dialect { return t.dialect }

// stmt returns query prepared once per transaction where the driver would otherwise
// prepare it on every call (SQLite): a batch repeats the same few statements hundreds
// of times.
func (t *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	var s *sql.Stmt
	if shared := t.cache.get(query); shared != nil {
		// Prepared on the database handle earlier: on the same connection (SQLite's
		// single writer) database/sql reuses it without parsing the text again.
		s = t.tx.StmtContext(ctx, shared)
	} else {
		var err error
		if s, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		t.missed = append(t.missed, query)
	}
	t.stmts[query] = s
	return s, nil
}

// stmtCache keeps statements prepared on the database handle across transactions. A
// live projection commits a transaction per small batch, and preparing its statements
// again in each one made parsing SQL a sixth of the pipeline's CPU. Statements are
// prepared after a commit, when the connection is free: with one write connection,
// preparing on the handle inside the transaction would wait for itself.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: a projection uses a few dozen texts (multi-row
// statements have one text per row count), so the bound only guards against a caller
// that builds texts from values.
const maxCachedStmts = 512

func (c *stmtCache) get(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// fill prepares on db the texts a committed transaction missed. A failure only means
// the next transaction prepares the text itself again.
func (c *stmtCache) fill(ctx context.Context, db *sql.DB, texts []string) {
	if c == nil || len(texts) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	for _, q := range texts {
		if _, ok := c.stmts[q]; ok || len(c.stmts) >= maxCachedStmts {
			continue
		}
		if s, err := db.PrepareContext(ctx, q); err == nil {
			c.stmts[q] = s
		}
	}
}

// close closes every cached statement.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
}

// Exec executes a statement.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !t.dialect.preparesInTx() {
		return t.tx.ExecContext(ctx, query, t.dialect.planned(query, args)...)
	}
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// Query runs a query.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if !t.dialect.preparesInTx() {
		return t.tx.QueryContext(ctx, query, t.dialect.planned(query, args)...)
	}
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// QueryRow runs a query that returns at most one row.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if !t.dialect.preparesInTx() {
		return t.tx.QueryRowContext(ctx, query, t.dialect.planned(query, args)...)
	}
	s, err := t.stmt(ctx, query)
	if err != nil {
		// database/sql offers no way to build a *sql.Row holding an error; running the
		// query unprepared reports the same error through Scan.
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// Multi-row statements carry at most chunkRows rows and maxParams parameters (well
// under SQLite's 32766 and Postgres's 65535). Fixed-size chunks repeat the same few
// statement texts: SQLite parses each once per transaction, pgx prepares each once per
// connection, where one statement per batch would be a new text every time.
const (
	chunkRows = 128
	maxParams = 8000
)

// ExecValues inserts rows with as few statements as the parameter limit allows:
// head + " VALUES (...), (...) " + tail. Every row must have the same number of values.
// A round trip costs more than the rows it carries, so a batch's rows go together
// rather than one statement each.
func (t *Tx) ExecValues(ctx context.Context, head, tail string, rows [][]any) error {
	_, err := t.execValues(ctx, head+" VALUES ", " "+tail, nil, rows)
	return err
}

// UpdateValues updates many rows with one statement per parameter-limit chunk:
//
//	UPDATE t SET x = v.column2 ... FROM (VALUES (...), (...)) AS v WHERE t.id = v.column1 ...
//
// head is the text up to "FROM (", tail follows the VALUES list and must start with
// ") AS v". The VALUES columns are named column1, column2, ... in both engines; types
// are their Postgres types, one per column. Rows must not repeat a target row (which
// one would win is undefined). It returns the number of rows updated.
func (t *Tx) UpdateValues(ctx context.Context, head, tail string, types []string, rows [][]any) (int64, error) {
	return t.execValues(ctx, head+"VALUES ", tail, types, rows)
}

func (t *Tx) execValues(ctx context.Context, head, tail string, types []string, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	cols := len(rows[0])
	if types != nil && len(types) != cols {
		return 0, fmt.Errorf("exec values: %d types for %d columns", len(types), cols)
	}
	per := max(1, min(chunkRows, maxParams/cols))
	var total int64
	for len(rows) > 0 {
		n := min(per, len(rows))
		var b strings.Builder
		args := make([]any, 0, n*cols)
		b.WriteString(head)
		for i, row := range rows[:n] {
			if len(row) != cols {
				return total, fmt.Errorf("exec values: row %d has %d values, want %d", i, len(row), cols)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j, v := range row {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				ph := t.dialect.placeholder(len(args))
				if types != nil {
					ph = t.dialect.typed(ph, types[j])
				}
				b.WriteString(ph)
			}
			b.WriteByte(')')
		}
		b.WriteString(tail)
		res, err := t.Exec(ctx, b.String(), args...)
		if err != nil {
			return total, err
		}
		if types != nil {
			k, err := res.RowsAffected()
			if err != nil {
				return total, err
			}
			total += k
		}
		rows = rows[n:]
	}
	return total, nil
}
