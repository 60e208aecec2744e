// Package kurrentdbtest is an in-memory KurrentDB for tests: a gRPC server built on the
// EventStore-Client-Go module's own generated Streams and ServerFeatures server
// interfaces, holding streams in memory, so the adapter is tested through the real
// client and wire protocol without a server install.
//
// It does what KurrentDB does with the calls adapters/kurrentdb makes, including what
// a real server does and a naive fake would not: it goes away and comes back on the
// same port (Stop, Restart, CrashOnNextAppend), demands TLS and credentials and keeps
// $all for admins (Secure), holds events nobody here wrote (system streams, epoch
// records, $ce-/$et- links with WithSystemProjections, and the Inject*/TombstoneStream/Truncate
// hooks), leaves gaps and chunk jumps between positions, rejects cursors with commit
// before prepare, enforces the append and event size limits and the server's
// validation, deduplicates retries only as the server promises (durably for exact
// expected revisions, from a bounded memory of recent IDs for Any, forgotten on
// restart), sends checkpoints and caught-up messages, bounds the live buffer of a
// subscription, and accepts the client's keepalive pings. Like KurrentDB it does NOT
// enforce event IDs unique across streams. Start it with Start; its URL is an esdb://
// connection string.
package kurrentdbtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Users of a Secure server. Admin is in $admins (may read $all); Reader is an
// ordinary user (may read and write user streams, not $all).
const (
	AdminUser    = "admin"
	ReaderUser   = "reader"
	TestPassword = "changeit"
)

// DefaultMaxAppendSize is KurrentDB's MaxAppendSize on 24.10 LTS and 25.0.
const DefaultMaxAppendSize = 1 << 20

// LiveBuffer is how many live events a subscription holds for a slow consumer before
// it falls back to catch-up or is dropped, as KurrentDB's live buffer of 32.
const LiveBuffer = 32

// chunkSize is KurrentDB's transaction-file chunk size: positions jump to the next
// chunk when a record does not fit in the current one.
const chunkSize = 256 << 20

// Server is an in-memory stand-in for a single KurrentDB node.
//
// Set its exported fields, then Start it; their zero values are the defaults.
type Server struct {
	streams.UnimplementedStreamsServer

	// Secure makes the server demand TLS (with a CA of its own, passed by path in the
	// connection string's tlsCAFile) and Basic credentials: AdminUser and ReaderUser
	// with TestPassword; only the admin may read or subscribe to $all.
	Secure bool
	// Version is the version the server reports through ServerFeatures ("" means
	// "24.10.0").
	Version string
	// MaxAppendSize is the server's MaxAppendSize (0 means DefaultMaxAppendSize).
	MaxAppendSize int
	// SystemProjections links every event into $ce-<category> and $et-<type>, as
	// KurrentDB's system projections do, so $all holds many link events.
	SystemProjections bool
	// DropSlowConsumers makes a live subscription whose buffer overflows end with
	// Aborted "Consumer too slow" instead of falling back to catch-up.
	DropSlowConsumers bool

	caFile  string
	tlsConf *tls.Config

	mu       sync.Mutex
	log      []*record
	byStream map[string]*streamState
	next     uint64        // log position of the next record
	changed  chan struct{} // closed and replaced at every append: wakes subscriptions
	drop     chan struct{} // closed and replaced by DropSubscriptions
	// recent is the bounded FIFO of recently written event IDs that makes an Any
	// retry idempotent; it is memory only, so a restart forgets it.
	recent    []uuid.UUID
	recentPos map[uuid.UUID]*record
	crash     *bool   // CrashOnNextAppend: stop after (true) or before (false) storing
	noLeader  int     // calls that came without the requires-leader header
	leader    *Server // FollowLeader: this node is a follower of leader
	// clockOffset moves the server's clock (Advance).
	clockOffset time.Duration
	epoch       int

	addr string
	srv  *grpc.Server
}

// recentIDs is how many event IDs the server remembers for Any retries.
const recentIDs = 1000

type record struct {
	id       uuid.UUID
	stream   string
	revision uint64
	position uint64 // commit and prepare: one record per event
	meta     map[string]string
	custom   []byte
	data     []byte
	at       time.Time // when it was written, by the server's clock
}

type streamState struct {
	events         []*record
	tombstoned     bool
	truncateBefore uint64
	maxCount       uint64        // $maxCount, 0 for none
	maxAge         time.Duration // $maxAge, 0 for none
}

// Start serves a fresh Server on a loopback port and returns it and a connection
// string for it (the admin's, on a Secure server). It stops with the test.
// Start starts a server with the default settings and returns it with an admin
// connection string; it stops when the test ends.
func Start(t testing.TB) (*Server, string) {
	t.Helper()
	fs := &Server{}
	return fs, fs.Start(t)
}

// Start starts fs as its fields say and returns an admin connection string; it stops
// when the test ends.
func (fs *Server) Start(t testing.TB) string {
	t.Helper()
	if fs.Version == "" {
		fs.Version = "24.10.0"
	}
	if fs.MaxAppendSize == 0 {
		fs.MaxAppendSize = DefaultMaxAppendSize
	}
	fs.byStream = map[string]*streamState{}
	fs.next = 1000
	fs.changed = make(chan struct{})
	fs.drop = make(chan struct{})
	fs.recentPos = map[uuid.UUID]*record{}
	if fs.Secure {
		if err := fs.makeCerts(t.TempDir()); err != nil {
			t.Fatalf("kurrentdbtest: certificates: %v", err)
		}
	}
	// A real $all starts with system events; the adapter must leave them out.
	fs.mu.Lock()
	fs.appendLocked("$settings", []*record{fs.system("$settings", `{}`)})
	fs.mu.Unlock()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	fs.addr = lis.Addr().String()
	fs.serve(lis)
	t.Cleanup(fs.Stop)
	return fs.URL(AdminUser, TestPassword)
}

// URL is a connection string for the server as user (ignored unless Secure).
func (fs *Server) URL(user, password string) string {
	if !fs.Secure {
		return fmt.Sprintf("esdb://%s?tls=false", fs.addr)
	}
	return fmt.Sprintf("esdb://%s:%s@%s?tlsCAFile=%s", user, password, fs.addr, fs.caFile)
}

// Addr is the server's host:port.
func (fs *Server) Addr() string { return fs.addr }

func (fs *Server) serve(lis net.Listener) {
	opts := []grpc.ServerOption{
		// The client pings every 10 s even without calls; KurrentDB accepts that.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	}
	if fs.Secure {
		opts = append(opts, grpc.Creds(credentials.NewTLS(fs.tlsConf)))
	}
	srv := grpc.NewServer(opts...)
	streams.RegisterStreamsServer(srv, fs)
	serverfeatures.RegisterServerFeaturesServer(srv, features{version: fs.Version})
	fs.mu.Lock()
	fs.srv = srv
	fs.epoch++
	// Each start writes an epoch record, as a node does when it becomes leader.
	fs.appendLocked("$epoch-information", []*record{fs.system("$epoch-information", fmt.Sprintf(`{"epochNumber":%d}`, fs.epoch))})
	fs.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

// Stop stops the server as a crash or shutdown would: connections close, calls in
// flight fail. Stored events are kept for Restart.
func (fs *Server) Stop() {
	fs.mu.Lock()
	srv := fs.srv
	fs.srv = nil
	fs.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Restart serves the same events again on the same address, having forgotten what a
// restarted node forgets (the recent IDs that make Any retries idempotent).
func (fs *Server) Restart(t testing.TB) {
	t.Helper()
	fs.Stop()
	var lis net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if lis, err = net.Listen("tcp", fs.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("kurrentdbtest: listen again on %s: %v", fs.addr, err)
	}
	fs.mu.Lock()
	fs.recent, fs.recentPos = nil, map[uuid.UUID]*record{}
	fs.mu.Unlock()
	fs.serve(lis)
}

// CrashOnNextAppend makes the next append stop the server, after storing the events
// (the client never hears that they were stored) when stored is true, or before.
func (fs *Server) CrashOnNextAppend(stored bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.crash = &stored
}

// DropSubscriptions ends every live subscription with a transient error, as a leader
// change would.
func (fs *Server) DropSubscriptions() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	close(fs.drop)
	fs.drop = make(chan struct{})
}

// CallsWithoutLeaderHeader counts the calls that did not ask for the leader
// (requires-leader), which a cluster would have served from a follower.
func (fs *Server) CallsWithoutLeaderHeader() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.noLeader
}

// FollowLeader makes this node a follower of leader (nil: a leader again). A KurrentDB
// follower answers every call that asks for the leader with NotFound "Leader info
// available" and the leader's address in its trailers, and the client reconnects
// there. Nothing is replicated between stand-ins: each keeps its own events.
func (fs *Server) FollowLeader(leader *Server) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.leader = leader
}

// StreamLength is how many events stream holds on this node, read past every hook.
func (fs *Server) StreamLength(stream string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if st, ok := fs.byStream[stream]; ok {
		return len(st.events)
	}
	return 0
}

type features struct {
	serverfeatures.UnimplementedServerFeaturesServer
	version string
}

func (f features) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: f.version,
		Methods: []*serverfeatures.SupportedMethod{
			{MethodName: "read", ServiceName: "event_store.client.streams.streams"},
			{MethodName: "append", ServiceName: "event_store.client.streams.streams"},
		},
	}, nil
}

// authorize checks a call's credentials as KurrentDB does: none is the anonymous user,
// who may do nothing; a wrong password is Unauthenticated; $all is for $admins.
func (fs *Server) authorize(ctx context.Context, all bool) error {
	md, _ := metadata.FromIncomingContext(ctx)
	requiresLeader := md.Get("requires-leader")
	fs.mu.Lock()
	if len(requiresLeader) == 0 {
		fs.noLeader++
	}
	leader := fs.leader
	fs.mu.Unlock()
	if leader != nil && len(requiresLeader) > 0 && requiresLeader[0] == "true" {
		host, port, _ := net.SplitHostPort(leader.Addr())
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port))
		return status.Error(codes.NotFound, "Leader info available")
	}
	if !fs.Secure {
		return nil
	}
	auth := md.Get("authorization")
	if len(auth) == 0 {
		return status.Error(codes.PermissionDenied, "Access Denied")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth[0], "Basic "))
	user, pass, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok || pass != TestPassword || (user != AdminUser && user != ReaderUser) {
		return status.Error(codes.Unauthenticated, "Bad credentials")
	}
	if all && user != AdminUser {
		return status.Error(codes.PermissionDenied, "Access Denied")
	}
	return nil
}

// makeCerts writes a CA (for the client's tlsCAFile) and a server certificate for
// 127.0.0.1 signed by it.
func (fs *Server) makeCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kurrentdbtest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	fs.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(fs.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		return err
	}
	fs.tlsConf = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	return nil
}
