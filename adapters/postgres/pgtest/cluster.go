package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a throwaway PostgreSQL server of the test's own, for fault tests that stop,
// start or disturb the server: never do that to the shared one. It runs as the
// postgres user (the server refuses to run as root) on a free loopback port, trust
// auth, and is stopped and removed when the test ends.
type Cluster struct {
	t    testing.TB
	bin  string // the server's bin directory
	dir  string // data directory
	port int
	cred *syscall.Credential
}

// StartCluster creates and starts a cluster. It fails the test when the server's
// programs (initdb, pg_ctl from /usr/lib/postgresql/*/bin) or the postgres user are
// missing.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		t.Fatal("no PostgreSQL server programs in /usr/lib/postgresql/*/bin")
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) < version(bins[j]) })
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("a throwaway cluster runs as the postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Not t.TempDir: its parents are private to the test's user.
	root, err := os.MkdirTemp("", "pgcluster")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bins[len(bins)-1], dir: dir, port: freePort(t),
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	c.run("initdb", "-D", dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	c.Start()
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(c.bin, "pg_ctl"), "-D", dir, "-w", "stop", "-m", "immediate")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		_ = cmd.Run() // already stopped by the test, maybe
	})
	return c
}

// version orders /usr/lib/postgresql/N/bin by N.
func version(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// URL is the postgres database of the cluster.
func (c *Cluster) URL() string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "127.0.0.1:" + strconv.Itoa(c.port),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// Start starts the stopped server and waits until it takes connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off", c.port, c.dir)
	c.pgctl("start", "-o", opts, "-l", filepath.Join(c.dir, "server.log"))
}

// Stop stops the server. "immediate" is a crash: no checkpoint, every session cut.
func (c *Cluster) Stop(mode string) {
	c.t.Helper()
	c.pgctl("stop", "-m", mode)
}

// Terminate ends every client session of the server but the caller's
// (pg_terminate_backend) and returns how many it ended.
func (c *Cluster) Terminate() int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		c.t.Fatalf("terminate backends: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
		c.t.Fatalf("terminate backends: %v", err)
	}
	return n
}

func (c *Cluster) pgctl(args ...string) {
	c.t.Helper()
	c.run("pg_ctl", append([]string{"-D", c.dir, "-w", "-t", "60"}, args...)...)
}

func (c *Cluster) run(prog string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
	}
}
