// Command mutate measures how many small code changes the tests notice. For each target
// package it lists mutants (a flipped comparison or logical operator, a changed
// boundary, a dropped negation, a removed assignment or call), runs the package's tests
// against each one through go test's -overlay (the working tree is never modified), and
// reports the share of mutants a test killed. Mutants that do not compile are not
// counted; the survivors are listed so each can be turned into a test or judged
// equivalent.
//
//	go run ./tools/mutate [-n 40] [-seed 1] [-files regexp] [-timeout 5m] target[=testpkg,testpkg]...
//
// target is a package directory such as ./domain/worker; the tests run are its own
// unless other packages are named after "=" (./projections/scans=./projections).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// mutant is one change: the bytes [off, off+n) of file become repl.
type mutant struct {
	file string
	line int
	off  int
	n    int
	repl string
	desc string
}

func (m mutant) String() string {
	return fmt.Sprintf("%s:%d: %s", m.file, m.line, m.desc)
}

// swaps are the operator replacements: each mutant is one swap at one place.
var swaps = map[token.Token]token.Token{
	token.EQL: token.NEQ, token.NEQ: token.EQL,
	token.LSS: token.LEQ, token.LEQ: token.LSS,
	token.GTR: token.GEQ, token.GEQ: token.GTR,
	token.LAND: token.LOR, token.LOR: token.LAND,
	token.ADD: token.SUB, token.SUB: token.ADD,
}

func main() {
	n := flag.Int("n", 0, "mutants sampled per package (0: all)")
	seed := flag.Int64("seed", 1, "sampling seed; the same seed picks the same mutants")
	timeout := flag.Duration("timeout", 5*time.Minute, "go test -timeout for each run")
	verbose := flag.Bool("v", false, "print every mutant's outcome")
	files := flag.String("files", "", "mutate only the files whose path matches this regexp")
	flag.Parse()
	only, err := regexp.Compile(*files)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate: -files:", err)
		os.Exit(2)
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mutate [flags] target[=testpkg,...]...")
		os.Exit(2)
	}
	var totalKilled, totalViable int
	for _, arg := range flag.Args() {
		target, tests, _ := strings.Cut(arg, "=")
		pkgs := []string{target}
		if tests != "" {
			pkgs = strings.Split(tests, ",")
		}
		killed, viable, err := run(target, only, pkgs, *n, *seed, *timeout, *verbose)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mutate %s: %v\n", target, err)
			os.Exit(1)
		}
		totalKilled += killed
		totalViable += viable
	}
	fmt.Printf("TOTAL killed %d of %d (%s)\n", totalKilled, totalViable, pct(totalKilled, totalViable))
}

func pct(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

func run(target string, only *regexp.Regexp, pkgs []string, n int, seed int64, timeout time.Duration, verbose bool) (killed, viable int, err error) {
	ms, err := list(target, only)
	if err != nil {
		return 0, 0, err
	}
	all := len(ms)
	if n > 0 && n < len(ms) {
		rand.New(rand.NewSource(seed)).Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		ms = ms[:n]
		sort.SliceStable(ms, func(i, j int) bool {
			if ms[i].file != ms[j].file {
				return ms[i].file < ms[j].file
			}
			return ms[i].off < ms[j].off
		})
	}
	fmt.Printf("== %s: %d mutants, running %d against %s\n", target, all, len(ms), strings.Join(pkgs, " "))
	if out, res := test(pkgs, "", timeout); res != pass {
		return 0, 0, fmt.Errorf("the tests fail without any mutant:\n%s", out)
	}
	tmp, err := os.MkdirTemp("", "mutate")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(tmp)
	var survivors []mutant
	for i, m := range ms {
		overlay, err := write(tmp, i, m)
		if err != nil {
			return 0, 0, err
		}
		_, res := test(pkgs, overlay, timeout)
		switch res {
		case pass:
			viable++
			survivors = append(survivors, m)
		case fail:
			viable++
			killed++
		}
		if verbose {
			fmt.Printf("   %-8s %s\n", res, m)
		}
	}
	fmt.Printf("%s: killed %d of %d (%s); %d did not compile\n", target, killed, viable, pct(killed, viable), len(ms)-viable)
	for _, m := range survivors {
		fmt.Printf("   survived %s\n", m)
	}
	return killed, viable, nil
}

type result string

const (
	pass    result = "survived"
	fail    result = "killed"
	invalid result = "invalid"
)

// test runs the tests of pkgs, with the overlay file when set.
func test(pkgs []string, overlay string, timeout time.Duration) (string, result) {
	args := []string{"test", "-count=1", "-vet=off", "-failfast", "-timeout", timeout.String()}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out), pass
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) && ctx.Err() == nil {
		return err.Error(), invalid
	}
	if bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")) {
		return string(out), invalid
	}
	return string(out), fail
}

// write stores the mutated file and an overlay that puts it in place of the original.
func write(dir string, i int, m mutant) (string, error) {
	src, err := os.ReadFile(m.file)
	if err != nil {
		return "", err
	}
	mutated := make([]byte, 0, len(src)+len(m.repl))
	mutated = append(mutated, src[:m.off]...)
	mutated = append(mutated, m.repl...)
	mutated = append(mutated, src[m.off+m.n:]...)
	abs, err := filepath.Abs(m.file)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("m%d.go", i))
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return "", err
	}
	b, err := json.Marshal(map[string]map[string]string{"Replace": {abs: path}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, fmt.Sprintf("m%d.json", i))
	return overlay, os.WriteFile(overlay, b, 0o644)
}

// list returns the mutants of the non-test Go files in dir, in file and offset order.
func list(dir string, only *regexp.Regexp) ([]mutant, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var ms []mutant
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || !only.MatchString(file) {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		add := func(pos token.Pos, n int, repl, desc string) {
			p := fset.Position(pos)
			ms = append(ms, mutant{file: file, line: p.Line, off: p.Offset, n: n, repl: repl, desc: desc})
		}
		ast.Inspect(f, func(node ast.Node) bool {
			switch x := node.(type) {
			case *ast.GenDecl:
				// Constants and package variables are data, not logic.
				return x.Tok != token.CONST && x.Tok != token.VAR
			case *ast.BinaryExpr:
				if to, ok := swaps[x.Op]; ok {
					add(x.OpPos, len(x.Op.String()), to.String(), fmt.Sprintf("%s -> %s", x.Op, to))
				}
			case *ast.UnaryExpr:
				if x.Op == token.NOT {
					add(x.OpPos, 1, " ", "drop !")
				}
			case *ast.BlockStmt:
				for _, s := range x.List {
					if removable(s) {
						end := fset.Position(s.End()).Offset
						start := fset.Position(s.Pos()).Offset
						add(s.Pos(), end-start, "{}", "remove "+describe(s))
					}
				}
			}
			return true
		})
	}
	return ms, nil
}

// removable reports whether s can be dropped and still leave a program worth testing:
// calls, assignments to existing variables and increments.
func removable(s ast.Stmt) bool {
	switch x := s.(type) {
	case *ast.ExprStmt:
		_, call := x.X.(*ast.CallExpr)
		return call
	case *ast.AssignStmt:
		return x.Tok != token.DEFINE
	case *ast.IncDecStmt:
		return true
	}
	return false
}

func describe(s ast.Stmt) string {
	switch x := s.(type) {
	case *ast.ExprStmt:
		return "call " + exprName(x.X.(*ast.CallExpr).Fun)
	case *ast.AssignStmt:
		return "assignment to " + exprName(x.Lhs[0])
	case *ast.IncDecStmt:
		return exprName(x.X) + x.Tok.String()
	}
	return "statement"
}

func exprName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprName(x.X) + "." + x.Sel.Name
	case *ast.IndexExpr:
		return exprName(x.X) + "[]"
	case *ast.StarExpr:
		return "*" + exprName(x.X)
	case *ast.CallExpr:
		return exprName(x.Fun) + "()"
	case *ast.FuncLit:
		return "func literal"
	}
	return "expression"
}
