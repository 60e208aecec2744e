package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func main() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil { panic(err) }
	db.Exec(`DROP TABLE IF EXISTS zz_t`)
	if _, err := db.Exec(`CREATE TABLE zz_t (id bigint primary key, v text, n numeric(65,30), a text[], j jsonb, ts timestamp(3))`); err != nil { panic(err) }
	tx, _ := db.BeginTx(ctx, nil)
	st, _ := tx.PrepareContext(ctx, `INSERT INTO zz_t (id, v, n, a, j, ts) VALUES ($1,$2,$3,$4,$5,$6)`)
	t0 := time.Now()
	N := 5000
	for i := 0; i < N; i++ {
		if _, err := st.ExecContext(ctx, i, "x", "0.0012", []string{"a", "b c"}, []byte(`{"b":1,"a":null}`), time.Now().UTC()); err != nil { panic(err) }
	}
	tx.Commit()
	fmt.Println("pg per exec", time.Since(t0)/time.Duration(N))
	var n, a, j string
	var ts time.Time
	if err := db.QueryRow(`SELECT n, a, j, ts FROM zz_t WHERE id=1`).Scan(&n, &a, &j, &ts); err != nil { panic(err) }
	fmt.Println(n, a, j, ts)
	var jb []byte
	db.QueryRow(`SELECT array_to_json(a)::text FROM zz_t WHERE id=1`).Scan(&jb)
	fmt.Println(string(jb))
	db.Exec(`DROP TABLE zz_t`)

	s, _ := sql.Open("sqlite", "file:/tmp/zz.db?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	s.SetMaxOpenConns(1)
	s.Exec(`DROP TABLE IF EXISTS zz_t`)
	s.Exec(`CREATE TABLE zz_t (id integer primary key, v text, n text, a text, j text, ts text)`)
	tx, _ = s.BeginTx(ctx, nil)
	st, _ = tx.PrepareContext(ctx, `INSERT INTO zz_t (id, v, n, a, j, ts) VALUES ($1,$2,$3,$4,$5,$6)`)
	t0 = time.Now()
	for i := 0; i < N; i++ {
		if _, err := st.ExecContext(ctx, i, "x", "0.0012", `["a"]`, `{"b":1}`, "2025-01-01T00:00:00.000Z"); err != nil { panic(err) }
	}
	tx.Commit()
	fmt.Println("sqlite per exec (prepared)", time.Since(t0)/time.Duration(N))
	tx, _ = s.BeginTx(ctx, nil)
	t0 = time.Now()
	for i := N; i < 2*N; i++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO zz_t (id, v, n, a, j, ts) VALUES ($1,$2,$3,$4,$5,$6)`, i, "x", "0.0012", `["a"]`, `{"b":1}`, "2025-01-01T00:00:00.000Z"); err != nil { panic(err) }
	}
	tx.Commit()
	fmt.Println("sqlite per exec (unprepared)", time.Since(t0)/time.Duration(N))
	var v any
	s.QueryRow(`select ts from zz_t where id=1`).Scan(&v)
	fmt.Printf("%T\n", v)
}
