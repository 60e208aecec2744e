package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

type loadConfig struct {
	conns     int
	users     int
	wsShare   float64
	sioShare  float64
	rate      int
	duration  time.Duration
	drain     time.Duration
	dialers   int
	heartbeat time.Duration
	progress  int
	workers   int
	queue     int
	hold      time.Duration
	profile   string
}

// runLoad is the load process: it starts the server process, opens the connections,
// has the server append the load, and prints what the clients saw.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c loadConfig
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.conns, "conns", 10000, "concurrent live connections")
	fs.IntVar(&c.users, "users", 0, "users the connections belong to (default conns/2: two tabs or devices each)")
	fs.Float64Var(&c.wsShare, "ws", 0.5, "share of the connections that use WebSocket; the rest use SSE unless -sio")
	fs.Float64Var(&c.sioShare, "sio", 0, "share of the connections that use Socket.IO (over WebSocket, as the PWA after its upgrade)")
	fs.IntVar(&c.rate, "rate", 1000, "live messages appended per second, spread over the users")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long the load is appended")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "how long to wait for the last messages after the load")
	fs.DurationVar(&c.hold, "hold", 0, "keep the connections open this long after the report (to profile the server)")
	fs.StringVar(&c.profile, "cpuprofile", "", "write the server's CPU profile during the load to this file")
	fs.IntVar(&c.dialers, "dialers", 200, "connections opened at once while connecting")
	fs.DurationVar(&c.heartbeat, "heartbeat", 15*time.Second, "server heartbeat interval")
	fs.IntVar(&c.progress, "progress", 20, "scan:progress messages per scan")
	fs.IntVar(&c.workers, "workers", 16, "commands the server runs at once")
	fs.IntVar(&c.queue, "queue", 0, "hub queue per subscription (0: the hub's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.users <= 0 {
		c.users = max(1, c.conns/2)
	}
	out := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:])
	base, stopServer, err := startServerProcess(ctx, c, secret, stderr)
	if err != nil {
		return err
	}
	defer stopServer()
	out("server %s; %d connections (%.0f%% WebSocket, %.0f%% Socket.IO, the rest SSE) for %d users; %d msg/s for %v",
		base, c.conns, c.wsShare*100, c.sioShare*100, c.users, c.rate, c.duration)

	var tc Config
	if _, err := tc.parse("loadgen", nil, io.Discard); err != nil {
		return err
	}
	tc.JWTSecret = secret
	issuer, err := tc.issuer()
	if err != nil {
		return err
	}
	users := make([]string, c.users)
	tokens := make([]string, c.users)
	for i := range users {
		users[i] = domain.NewID()
		if tokens[i], _, err = issuer.Issue(auth.Access, users[i], auth.RoleUser); err != nil {
			return err
		}
	}

	idle, err := getStats(ctx, base)
	if err != nil {
		return err
	}

	// Connect.
	cctx, closeClients := context.WithCancel(ctx)
	defer closeClients()
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: -1}}
	clients := make([]*liveClient, c.conns)
	began := time.Now()
	sem := make(chan struct{}, c.dialers)
	var dialErrs atomic.Int64
	var firstDialErr atomic.Value
	var dials sync.WaitGroup
	for i := range clients {
		// The shares are spread evenly over the connections and so over users.
		share := func(f float64) bool { return int(float64(i+1)*f) > int(float64(i)*f) }
		kind := transportSSE
		switch {
		case share(c.wsShare):
			kind = transportWS
		case share(c.sioShare):
			kind = transportSIO
		}
		cl := &liveClient{user: i % c.users, kind: kind, done: make(chan struct{})}
		clients[i] = cl
		sem <- struct{}{}
		dials.Go(func() {
			defer func() { <-sem }()
			if err := cl.connect(cctx, hc, base, tokens[cl.user]); err != nil {
				dialErrs.Add(1)
				firstDialErr.CompareAndSwap(nil, err.Error())
				close(cl.done)
			}
		})
	}
	dials.Wait()
	if n := dialErrs.Load(); n > 0 {
		out("connect: %d of %d failed, first: %v", n, c.conns, firstDialErr.Load())
	}
	out("connected %d in %v", c.conns-int(dialErrs.Load()), time.Since(began).Round(time.Millisecond))

	// Let the connections settle (handshakes, first heartbeats) before measuring.
	time.Sleep(2 * time.Second)
	connected, err := getStats(ctx, base)
	if err != nil {
		return err
	}

	// Load.
	if c.profile != "" {
		// The CPU profile covers the load: it starts with it and lasts as long.
		go saveProfile(ctx, base, c.duration, c.profile, stderr)
	}
	res, err := postAppend(ctx, base, appendPlan{Users: users, Rate: c.rate, Duration: c.duration,
		Workers: c.workers, Progress: c.progress})
	if err != nil {
		return err
	}
	out("appended %d messages (%d commands) in %v: %.0f msg/s; %d late slots; %d errors %s",
		res.Total, res.Commands, res.Elapsed.Round(time.Millisecond), float64(res.Total)/res.Elapsed.Seconds(),
		res.Late, res.Errors, res.FirstError)

	var expected int64
	for _, cl := range clients {
		cl.expected = res.Latest[cl.user]
		expected += cl.expected
	}
	deadline := time.Now().Add(c.drain)
	for time.Now().Before(deadline) && delivered(clients) < expected {
		time.Sleep(50 * time.Millisecond)
	}
	loaded, err := getStats(ctx, base)
	if err != nil {
		return err
	}
	if c.hold > 0 {
		out("holding the connections for %v; profiles at %s/loadgen/heap and /loadgen/goroutine", c.hold, base)
		time.Sleep(c.hold)
	}
	closeClients()
	for _, cl := range clients {
		<-cl.done
	}

	report(out, c, clients, expected, idle, connected, loaded)
	return nil
}

func delivered(clients []*liveClient) int64 {
	var n int64
	for _, cl := range clients {
		n += cl.received.Load()
	}
	return n
}

func report(out func(string, ...any), c loadConfig, clients []*liveClient, expected int64, idle, connected, loaded serverStats) {
	var lat []int64
	var gaps, dups, ended, short int64
	for _, cl := range clients {
		lat = append(lat, cl.latency...)
		gaps += cl.gaps
		dups += cl.dups
		if cl.ended != nil {
			ended++
		}
		if cl.received.Load() < cl.expected {
			short++
		}
	}
	got := delivered(clients)
	out("delivered %d of %d expected (%.3f%%); %d connections short, %d ended early; %d gaps, %d duplicates",
		got, expected, 100*float64(got)/float64(max(expected, 1)), short, ended, gaps, dups)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return time.Duration(lat[min(len(lat)-1, int(p*float64(len(lat))))])
	}
	out("append-to-client latency over %d scan:progress messages: p50 %v, p90 %v, p99 %v, max %v",
		len(lat), pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	perConn := func(s serverStats) float64 {
		return float64(int64(s.HeapInuse+s.StackInuse)-int64(idle.HeapInuse+idle.StackInuse)) / float64(c.conns) / 1024
	}
	cpu := loaded.CPU - connected.CPU
	out("server CPU during the load: %v, %.1f µs per delivered message (%.2f cores)",
		cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(max(got, 1)), cpu.Seconds()/c.duration.Seconds())
	out("server: %d garbage collections during the load (GC CPU fraction %.1f%%)", loaded.NumGC-connected.NumGC-4, 100*loaded.GCCPU)
	out("server: %d subscribers; heap+stack in use %.1f MiB idle, %.1f MiB connected, %.1f MiB after load",
		connected.Subscribers, mib(idle.HeapInuse+idle.StackInuse), mib(connected.HeapInuse+connected.StackInuse),
		mib(loaded.HeapInuse+loaded.StackInuse))
	out("server memory per connection: %.1f KiB connected (heap %.1f + stack %.1f), %.1f KiB after load; %.2f goroutines per connection",
		perConn(connected),
		float64(int64(connected.HeapInuse)-int64(idle.HeapInuse))/float64(c.conns)/1024,
		float64(int64(connected.StackInuse)-int64(idle.StackInuse))/float64(c.conns)/1024,
		perConn(loaded), float64(connected.Goroutines-idle.Goroutines)/float64(c.conns))
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// client is one live connection and what it saw.
type liveClient struct {
	user     int
	kind     int // transportSSE, ...
	expected int64
	received atomic.Int64
	done     chan struct{}
	// Written by the reading goroutine only, read after done is closed.
	last    int64
	gaps    int64
	dups    int64
	latency []int64
	ended   error
}

// connect opens the connection and returns once the server has subscribed it (SSE
// answers its headers, WebSocket its handshake, only after subscribing), then reads
// in the background until ctx is done.
func (cl *liveClient) connect(ctx context.Context, hc *http.Client, base, tok string) error {
	if cl.kind == transportSIO {
		return cl.connectSIO(ctx, hc, base, tok)
	}
	if cl.kind == transportWS {
		u := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws"
		c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"bearer", tok}})
		if err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
		c.SetReadLimit(1 << 20)
		go cl.readWS(ctx, c)
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("sse: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return fmt.Errorf("sse: status %d", resp.StatusCode)
	}
	go cl.readSSE(ctx, resp.Body)
	return nil
}

func (cl *liveClient) readWS(ctx context.Context, c *websocket.Conn) {
	defer close(cl.done)
	defer c.CloseNow()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				cl.ended = err
			}
			return
		}
		var f struct {
			ID   int64           `json:"id"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			cl.ended = err
			return
		}
		cl.see(f.ID, f.Data)
	}
}

// The transports a load client uses.
const (
	transportSSE = iota
	transportWS
	transportSIO
)

// connectSIO opens a Socket.IO connection over WebSocket, as socket.io-client does
// after its upgrade, and returns once the namespace CONNECT is acknowledged (the
// server has subscribed it by then).
func (cl *liveClient) connectSIO(ctx context.Context, hc *http.Client, base, tok string) error {
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return fmt.Errorf("socket.io: %w", err)
	}
	c.SetReadLimit(1 << 20)
	fail := func(err error) error {
		c.CloseNow()
		return fmt.Errorf("socket.io: %w", err)
	}
	if _, b, err := c.Read(ctx); err != nil || !bytes.HasPrefix(b, []byte("0")) {
		return fail(fmt.Errorf("open packet %q: %v", b, err))
	}
	auth, _ := json.Marshal(map[string]string{"token": tok})
	if err := c.Write(ctx, websocket.MessageText, append([]byte("40/scans,"), auth...)); err != nil {
		return fail(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return fail(err)
		}
		if bytes.HasPrefix(b, []byte("40/scans,")) {
			break
		}
		if !bytes.Equal(b, []byte("2")) {
			return fail(fmt.Errorf("connect: %s", b))
		}
		_ = c.Write(ctx, websocket.MessageText, []byte("3"))
	}
	go cl.readSIO(ctx, c)
	return nil
}

// readSIO reads EVENT packets, 42/scans,["event",data,"<offset>"], and answers pings.
func (cl *liveClient) readSIO(ctx context.Context, c *websocket.Conn) {
	defer close(cl.done)
	defer c.CloseNow()
	for {
		_, b, err := c.Read(ctx)
		if err == nil && bytes.Equal(b, []byte("2")) {
			if err := c.Write(ctx, websocket.MessageText, []byte("3")); err != nil {
				if ctx.Err() == nil {
					cl.ended = err
				}
				return
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				cl.ended = err
			}
			return
		}
		var args []json.RawMessage
		payload, ok := bytes.CutPrefix(b, []byte("42/scans,"))
		if !ok || json.Unmarshal(payload, &args) != nil || len(args) < 3 {
			cl.ended = fmt.Errorf("socket.io: unexpected packet %.80q", b)
			return
		}
		var offset string
		_ = json.Unmarshal(args[len(args)-1], &offset)
		id, _ := strconv.ParseInt(offset, 10, 64)
		cl.see(id, args[1])
	}
}

// readSSE parses the event stream: id and data fields, dispatched at the blank line.
func (cl *liveClient) readSSE(ctx context.Context, body io.ReadCloser) {
	defer close(cl.done)
	defer body.Close()
	br := bufio.NewReaderSize(body, 4096)
	var id int64
	var data []byte
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if ctx.Err() == nil {
				cl.ended = err
			}
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if data != nil {
				cl.see(id, data)
			}
			data = nil
		case bytes.HasPrefix(line, []byte("id: ")):
			id, _ = strconv.ParseInt(string(line[4:]), 10, 64)
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data, line[6:]...)
		}
	}
}

// stampField locates the append time the load put in scan:progress stages.
const stampField = `"stage":"` + stampPrefix

func (cl *liveClient) see(id int64, data []byte) {
	now := time.Now().UnixNano()
	switch {
	case id <= cl.last:
		cl.dups++
	case id > cl.last+1:
		cl.gaps++
	}
	cl.last = max(cl.last, id)
	if i := bytes.Index(data, []byte(stampField)); i >= 0 {
		rest := data[i+len(stampField):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			if t, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
				cl.latency = append(cl.latency, now-t)
			}
		}
	}
	cl.received.Add(1)
}

// The server process.

// startServerProcess runs `scanledger loadgen serve` and returns its base URL and a function that
// stops it.
func startServerProcess(ctx context.Context, c loadConfig, secret string, stderr io.Writer) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("find own binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return "", nil, fmt.Errorf("server data dir: %w", err)
	}
	// The server is `serve`'s app with the settings a load test needs: any free port, a
	// fresh data dir, no worker (the load is appended directly; analyses are not what is
	// measured), quieter logs, and live caps above the connections opened from here.
	limit := strconv.Itoa(c.conns + 1)
	cmd := exec.CommandContext(ctx, self, "loadgen", "serve", "--addr", "127.0.0.1:0", "--data-dir", dir,
		"--roles", "http,projector", "--workers", "0", "--log-level", "warn",
		"--live-per-ip", limit, "--live-per-user", limit,
		"--heartbeat", c.heartbeat.String(), "-queue", strconv.Itoa(c.queue))
	cmd.Env = append(os.Environ(), "SCANLEDGER_JWT_SECRET="+secret)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start server: %w", err)
	}
	stop := func() {
		defer os.RemoveAll(dir)
		stdin.Close() // the server stops when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	sc := bufio.NewScanner(stdoutPipe)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stdoutPipe) }()
			return m[1], stop, nil
		}
	}
	stop()
	return "", nil, errors.New("server exited before listening")
}

func getStats(ctx context.Context, base string) (serverStats, error) {
	var s serverStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/loadgen/stats", nil)
	if err != nil {
		return s, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, fmt.Errorf("server stats: %w", err)
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func postAppend(ctx context.Context, base string, p appendPlan) (*appendResult, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/loadgen/append", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("append: status %d: %s", resp.StatusCode, b)
	}
	var res appendResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	return &res, nil
}

// saveProfile saves the server's CPU profile over the next d to path.
func saveProfile(ctx context.Context, base string, d time.Duration, path string, stderr io.Writer) {
	fail := func(err error) { fmt.Fprintln(stderr, "loadgen: cpu profile:", err) }
	u := fmt.Sprintf("%s/loadgen/profile?seconds=%d", base, max(1, int(d.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fail(err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		fail(err)
		return
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}
