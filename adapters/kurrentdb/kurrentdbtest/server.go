// Package kurrentdbtest is an in-memory KurrentDB for tests: a gRPC server built on the
// EventStore-Client-Go module's own generated Streams server interface, holding streams
// in memory. It implements what adapters/kurrentdb uses (appends with expected revisions
// and retry de-duplication, forward reads of streams and $all, filtered $all
// subscriptions with catch-up and live tail) and, like KurrentDB, does not enforce event
// ids unique across streams. Start it with Start; its URL is an esdb:// connection string.
package kurrentdbtest

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is an in-memory stand-in for a single KurrentDB node, built on the
// client's own generated gRPC server interface, so the adapter is tested through the
// real client and wire protocol without a server install. It does what the client
// does with KurrentDB and no more: appends with expected revisions (and the server's
// retry-at-the-same-revision idempotency), forward stream and $all reads, and
// filtered $all subscriptions that catch up and then tail. Like KurrentDB it does NOT
// enforce unique event IDs across streams. ServerFeatures and Gossip are left
// unregistered: for a single node the client skips gossip and treats an Unimplemented
// ServerFeatures as an old server, which is fine for these calls.
type Server struct {
	streams.UnimplementedStreamsServer

	mu       sync.Mutex
	log      []*fakeEvent
	byStream map[string][]*fakeEvent
	next     uint64        // log position of the next event
	changed  chan struct{} // closed and replaced at every append: wakes subscriptions
	drop     chan struct{} // closed and replaced by dropSubscriptions
}

type fakeEvent struct {
	id       uuid.UUID
	stream   string
	revision uint64
	position uint64
	meta     map[string]string
	custom   []byte
	data     []byte
}

// startFakeServer serves a fresh Server on a loopback port and returns it and a
// connection string for it.
func Start(t testing.TB) (*Server, string) {
	t.Helper()
	fs := &Server{
		byStream: map[string][]*fakeEvent{},
		next:     1000,
		changed:  make(chan struct{}),
		drop:     make(chan struct{}),
	}
	// A real $all starts with system events; the adapter must leave them out.
	fs.appendLocked("$settings", []*fakeEvent{{id: uuid.New(), meta: map[string]string{"type": "$settings", "content-type": "application/json"}, data: []byte(`{}`)}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	streams.RegisterStreamsServer(srv, fs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return fs, fmt.Sprintf("esdb://%s?tls=false", lis.Addr())
}

// dropSubscriptions ends every live subscription with a transient error, as a node
// restart or leader change would.
func (fs *Server) DropSubscriptions() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	close(fs.drop)
	fs.drop = make(chan struct{})
}

func (fs *Server) appendLocked(stream string, events []*fakeEvent) {
	created := strconv.FormatInt(time.Now().UnixNano()/100, 10) // .NET ticks since the Unix epoch
	for _, e := range events {
		e.stream = stream
		e.revision = uint64(len(fs.byStream[stream]))
		e.position = fs.next
		fs.next += uint64(len(e.data)+len(e.custom)) + 100
		e.meta["created"] = created
		fs.byStream[stream] = append(fs.byStream[stream], e)
		fs.log = append(fs.log, e)
	}
	close(fs.changed)
	fs.changed = make(chan struct{})
}

func (fs *Server) Append(srv streams.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "append: options first")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var events []*fakeEvent
	for {
		req, err := srv.Recv()
		if err != nil {
			break // io.EOF: the client closed its side
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "append: proposed message expected")
		}
		s := msg.GetId().GetStructured()
		id, err := esdb.ParseUUIDFromInt64(s.GetMostSignificantBits(), s.GetLeastSignificantBits())
		if err != nil {
			return status.Error(codes.InvalidArgument, "append: bad event id")
		}
		meta := map[string]string{}
		for k, v := range msg.GetMetadata() {
			meta[k] = v
		}
		events = append(events, &fakeEvent{id: id, meta: meta, custom: msg.GetCustomMetadata(), data: msg.GetData()})
	}

	fs.mu.Lock()
	defer fs.mu.Unlock()
	stored := fs.byStream[stream]
	current := int64(len(stored)) - 1

	// KurrentDB's idempotency: the same IDs right after the expected revision succeed
	// again without writing.
	start := int64(-2)
	switch r := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_NoStream:
		start = 0
	case *streams.AppendReq_Options_Revision:
		start = int64(r.Revision) + 1
	}
	if start >= 0 && len(events) > 0 && start+int64(len(events)) <= int64(len(stored)) {
		same := true
		for i, e := range events {
			same = same && stored[start+int64(i)].id == e.id
		}
		if same {
			return srv.SendAndClose(fs.success(stored[start+int64(len(events))-1]))
		}
	}

	ok := false
	switch r := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		ok = true
	case *streams.AppendReq_Options_NoStream:
		ok = current == -1
	case *streams.AppendReq_Options_StreamExists:
		ok = current >= 0
	case *streams.AppendReq_Options_Revision:
		ok = current == int64(r.Revision)
	}
	if !ok {
		wrong := &streams.AppendResp_WrongExpectedVersion{}
		if current < 0 {
			wrong.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		} else {
			wrong.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		}
		switch r := opts.GetExpectedStreamRevision().(type) {
		case *streams.AppendReq_Options_NoStream:
			wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		case *streams.AppendReq_Options_StreamExists:
			wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		case *streams.AppendReq_Options_Revision:
			wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: r.Revision}
		}
		return srv.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrong}})
	}
	if len(events) == 0 {
		return status.Error(codes.InvalidArgument, "append: no events")
	}
	fs.appendLocked(stream, events)
	return srv.SendAndClose(fs.success(events[len(events)-1]))
}

func (fs *Server) success(last *fakeEvent) *streams.AppendResp {
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision},
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: last.position, PreparePosition: last.position,
		}},
	}}}
}

func (fs *Server) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	opts := req.GetOptions()
	if opts.GetReadDirection() != streams.ReadReq_Options_Forwards {
		return status.Error(codes.Unimplemented, "fake: only forward reads")
	}
	switch so := opts.GetStreamOption().(type) {
	case *streams.ReadReq_Options_Stream:
		if opts.GetSubscription() != nil {
			return status.Error(codes.Unimplemented, "fake: no stream subscriptions")
		}
		return fs.readStream(so.Stream, opts.GetCount(), srv)
	case *streams.ReadReq_Options_All:
		match, err := filterOf(opts.GetFilter())
		if err != nil {
			return err
		}
		if opts.GetSubscription() != nil {
			return fs.subscribeAll(so.All, match, srv)
		}
		return fs.readAll(so.All, opts.GetCount(), match, srv)
	}
	return status.Error(codes.InvalidArgument, "fake: no stream option")
}

func (fs *Server) readStream(o *streams.ReadReq_Options_StreamOptions, count uint64, srv streams.Streams_ReadServer) error {
	from := uint64(0)
	if r, ok := o.GetRevisionOption().(*streams.ReadReq_Options_StreamOptions_Revision); ok {
		from = r.Revision
	}
	fs.mu.Lock()
	stored, exists := fs.byStream[string(o.GetStreamIdentifier().GetStreamName())]
	var batch []*fakeEvent
	for _, e := range stored {
		if e.revision >= from && uint64(len(batch)) < count {
			batch = append(batch, e)
		}
	}
	fs.mu.Unlock()
	if !exists {
		return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
			StreamIdentifier: o.GetStreamIdentifier(),
		}}})
	}
	return sendAll(srv, batch)
}

// readAll reads $all forwards from a position, inclusive, as KurrentDB does.
func (fs *Server) readAll(o *streams.ReadReq_Options_AllOptions, count uint64, match func(string) bool, srv streams.Streams_ReadServer) error {
	from := uint64(0)
	switch p := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		from = p.Position.GetCommitPosition()
	case *streams.ReadReq_Options_AllOptions_End:
		return nil
	}
	fs.mu.Lock()
	var batch []*fakeEvent
	for _, e := range fs.log {
		if e.position >= from && match(e.stream) && uint64(len(batch)) < count {
			batch = append(batch, e)
		}
	}
	fs.mu.Unlock()
	return sendAll(srv, batch)
}

// subscribeAll confirms, then sends every matching event after the start position
// (exclusive, as in KurrentDB) and keeps tailing until the client goes away or
// dropSubscriptions is called.
func (fs *Server) subscribeAll(o *streams.ReadReq_Options_AllOptions, match func(string) bool, srv streams.Streams_ReadServer) error {
	if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}
	fs.mu.Lock()
	next := 0 // index into fs.log of the next event to consider
	switch p := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		for next < len(fs.log) && fs.log[next].position <= p.Position.GetCommitPosition() {
			next++
		}
	case *streams.ReadReq_Options_AllOptions_End:
		next = len(fs.log)
	}
	drop := fs.drop
	fs.mu.Unlock()
	for {
		fs.mu.Lock()
		var batch []*fakeEvent
		for _, e := range fs.log[next:] {
			if match(e.stream) {
				batch = append(batch, e)
			}
		}
		next = len(fs.log)
		changed := fs.changed
		fs.mu.Unlock()
		if err := sendAll(srv, batch); err != nil {
			return err
		}
		select {
		case <-srv.Context().Done():
			return srv.Context().Err()
		case <-drop:
			return status.Error(codes.Unavailable, "fake: subscription dropped")
		case <-changed:
		}
	}
}

func sendAll(srv streams.Streams_ReadServer, events []*fakeEvent) error {
	for _, e := range events {
		most, least := esdb.UUIDAsInt64(e.id)
		rec := &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.stream)},
			StreamRevision:   e.revision,
			PreparePosition:  e.position,
			CommitPosition:   e.position,
			Metadata:         e.meta,
			CustomMetadata:   e.custom,
			Data:             e.data,
		}
		if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
			Event:    rec,
			Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.position},
		}}}); err != nil {
			return err
		}
	}
	return nil
}

// filterOf supports the stream-name filters (prefixes or a regex) the adapter sends.
func filterOf(f *streams.ReadReq_Options_FilterOptions) (func(string) bool, error) {
	if f == nil {
		return func(string) bool { return true }, nil
	}
	sf, ok := f.GetFilter().(*streams.ReadReq_Options_FilterOptions_StreamIdentifier)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "fake: only stream filters")
	}
	expr := sf.StreamIdentifier
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "fake: bad regex")
		}
		return re.MatchString, nil
	}
	prefixes := expr.GetPrefix()
	return func(s string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}, nil
}
