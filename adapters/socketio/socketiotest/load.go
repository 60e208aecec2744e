package socketiotest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// LoadRound is one round of a memory test of a live transport: it runs the test binary
// again as a child process with env added to its environment, which opens the
// connections, prints "opened", waits for a line on stdin, closes them all and prints
// "closed". opened is called once the child has printed "opened" (the test waits there
// for the server to hold every connection, and measures), closed once it has printed
// "closed". The connections live in another process so that the server's memory is
// measured alone.
func LoadRound(t testing.TB, env []string, opened, closed func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, stdout := startPiped(t, cmd)
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() || strings.TrimSpace(lines.Text()) != want {
			t.Fatalf("load client: got %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
	expect("opened")
	opened()
	stdin.Write([]byte("close\n"))
	expect("closed")
	closed()
}

// RunLoadClient is LoadRound's child process, called from TestMain: it opens n
// connections with open, a few at a time, prints "opened", waits for a line on stdin,
// closes them all and prints "closed". It returns the exit code.
func RunLoadClient(n int, open func(ctx context.Context) (close func(), err error)) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	closers := make([]func(), n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range closers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			if closers[i], err = open(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fmt.Fprintln(os.Stderr, "load client:", err)
		return 1
	}
	fmt.Println("opened")
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range closers {
		c()
	}
	fmt.Println("closed")
	return 0
}

// MemSnapshot collects garbage twice and returns the goroutine count and memory
// statistics of the test process: a memory test's reading before or after a round.
func MemSnapshot() (goroutines int, ms runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms
}
