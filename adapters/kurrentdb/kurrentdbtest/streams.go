package kurrentdbtest

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// system makes a record of a system event (JSON data, no custom metadata).
func (fs *Server) system(typ, data string) *record {
	return &record{id: uuid.New(), meta: map[string]string{"type": typ, "content-type": "application/json"}, data: []byte(data)}
}

// appendLocked stores events at the end of stream. Positions leave gaps (a record's
// header and the commit record) and jump to the next chunk when a record would
// straddle a chunk boundary, as KurrentDB's transaction file does.
func (fs *Server) appendLocked(stream string, events []*record) {
	now := fs.now()
	created := strconv.FormatInt(now.UnixNano()/100, 10) // .NET ticks since the Unix epoch
	st := fs.stream(stream)
	for _, e := range events {
		size := uint64(len(e.data)+len(e.custom)) + 100
		if fs.next/chunkSize != (fs.next+size)/chunkSize {
			fs.next = (fs.next/chunkSize + 1) * chunkSize
		}
		e.stream = stream
		e.revision = uint64(len(st.events))
		if len(st.events) > 0 {
			e.revision = st.events[len(st.events)-1].revision + 1
		}
		e.position = fs.next
		fs.next += size
		e.meta["created"], e.at = created, now
		st.events = append(st.events, e)
		fs.log = append(fs.log, e)
		fs.remember(e)
	}
	if fs.SystemProjections && !strings.HasPrefix(stream, "$") {
		for _, e := range events {
			category, _, _ := strings.Cut(stream, "-")
			link := fmt.Sprintf("%d@%s", e.revision, stream)
			fs.appendLinkLocked("$ce-"+category, link)
			fs.appendLinkLocked("$et-"+e.meta["type"], link)
		}
	}
	close(fs.changed)
	fs.changed = make(chan struct{})
}

func (fs *Server) appendLinkLocked(stream, target string) {
	r := &record{id: uuid.New(), meta: map[string]string{"type": "$>", "content-type": "application/octet-stream"}, data: []byte(target)}
	st := fs.stream(stream)
	size := uint64(len(r.data)) + 100
	r.stream, r.revision, r.position = stream, uint64(len(st.events)), fs.next
	fs.next += size
	r.at = fs.now()
	r.meta["created"] = strconv.FormatInt(r.at.UnixNano()/100, 10)
	st.events = append(st.events, r)
	fs.log = append(fs.log, r)
}

func (fs *Server) stream(name string) *streamState {
	st := fs.byStream[name]
	if st == nil {
		st = &streamState{}
		fs.byStream[name] = st
	}
	return st
}

func (fs *Server) remember(e *record) {
	fs.recent = append(fs.recent, e.id)
	fs.recentPos[e.id] = e
	if len(fs.recent) > recentIDs {
		delete(fs.recentPos, fs.recent[0])
		fs.recent = fs.recent[1:]
	}
}

// current is a stream's last revision, -1 when it has no events.
func (st *streamState) current() int64 {
	if st == nil || len(st.events) == 0 {
		return -1
	}
	return int64(st.events[len(st.events)-1].revision)
}

// InjectEvent appends an event that is not scanledger's (no envelope in its metadata)
// to stream, as another writer or a tool would. Its type may be a $-type.
func (fs *Server) InjectEvent(stream, typ string, data, customMetadata []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.appendLocked(stream, []*record{{id: uuid.New(), meta: map[string]string{"type": typ, "content-type": "application/json"}, data: data, custom: customMetadata}})
}

// InjectLink appends a link event ("$>", pointing at revision of target) to stream.
func (fs *Server) InjectLink(stream, target string, revision uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.appendLocked(stream, []*record{{id: uuid.New(), meta: map[string]string{"type": "$>", "content-type": "application/octet-stream"}, data: fmt.Appendf(nil, "%d@%s", revision, target)}})
}

// TombstoneStream hard-deletes stream as KurrentDB does: a "$streamDeleted" event at the
// largest revision goes into $all; reads and appends of the stream fail from then on.
func (fs *Server) TombstoneStream(stream string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	st := fs.stream(stream)
	r := fs.system("$streamDeleted", "")
	r.data = nil
	fs.appendLocked(stream, []*record{r})
	r.revision = math.MaxInt64
	st.tombstoned = true
}

// Truncate sets stream's $tb (truncate before) through its $$ metadata stream, as
// $maxCount, $maxAge and a soft delete do in effect: reads start at revision before,
// while revisions go on from where they were.
func (fs *Server) Truncate(stream string, before uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.appendLocked("$$"+stream, []*record{fs.system("$metadata", fmt.Sprintf(`{"$tb":%d}`, before))})
	fs.stream(stream).truncateBefore = before
}

func (fs *Server) Append(srv streams.Streams_AppendServer) error {
	if err := fs.authorize(srv.Context(), false); err != nil {
		return err
	}
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "append: options first")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	var events []*record
	size := 0
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
		if err != nil || id == uuid.Nil {
			return status.Error(codes.InvalidArgument, "append: bad event id")
		}
		typ := msg.GetMetadata()["type"]
		if typ == "" {
			return status.Error(codes.InvalidArgument, "Required Metadata Property 'type' is missing")
		}
		// KurrentDB's measure: data, metadata and the type in UTF-16.
		evSize := len(msg.GetData()) + len(msg.GetCustomMetadata()) + 2*len([]rune(typ))
		if maxEvent := 16<<20 - 10000; evSize > maxEvent {
			return status.Errorf(codes.InvalidArgument, "Event with Id: %s, Size: %d, exceeds Maximum Append Event Size of %d.", id, evSize, maxEvent)
		}
		if size += evSize; size > fs.MaxAppendSize {
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", fs.MaxAppendSize)
		}
		meta := map[string]string{}
		for k, v := range msg.GetMetadata() {
			meta[k] = v
		}
		events = append(events, &record{id: id, meta: meta, custom: msg.GetCustomMetadata(), data: msg.GetData()})
	}
	if len(events) == 0 {
		return status.Error(codes.InvalidArgument, "append: no events")
	}

	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.crash != nil && !*fs.crash {
		return fs.crashLocked()
	}
	st := fs.byStream[name]
	if st != nil && st.tombstoned {
		return streamDeleted(srv, name)
	}
	current := st.current()
	var stored []*record
	if st != nil {
		stored = st.events
	}

	// Idempotency as KurrentDB promises it. With an exact expected revision (or
	// NoStream) behind the current one, the same IDs right after it are a retry, found
	// in the stream itself (durable); a partial match is a conflict. With Any, a retry
	// is recognised only from the recent IDs in memory.
	var expected int64 = -2
	switch r := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_NoStream:
		expected = -1
	case *streams.AppendReq_Options_Revision:
		expected = int64(r.Revision)
	}
	if expected >= -1 && expected < current {
		at := indexOf(stored, uint64(expected+1))
		same := 0
		for i := 0; at >= 0 && at+i < len(stored) && i < len(events) && stored[at+i].id == events[i].id; i++ {
			same++
		}
		if same == len(events) {
			return srv.SendAndClose(success(stored[at+len(events)-1]))
		}
		if same > 0 {
			return wrongVersion(srv, opts, current)
		}
	}
	if _, ok := opts.GetExpectedStreamRevision().(*streams.AppendReq_Options_Any); ok {
		known := 0
		var last *record
		for _, e := range events {
			if r := fs.recentPos[e.id]; r != nil && r.stream == name {
				known++
				last = r
			}
		}
		if known == len(events) {
			return srv.SendAndClose(success(last))
		}
		if known > 0 {
			return wrongVersion(srv, opts, current)
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
		return wrongVersion(srv, opts, current)
	}
	fs.appendLocked(name, events)
	if fs.crash != nil {
		return fs.crashLocked()
	}
	return srv.SendAndClose(success(events[len(events)-1]))
}

// crashLocked stops the server from inside a call: the caller sees the connection go.
func (fs *Server) crashLocked() error {
	fs.crash = nil
	srv := fs.srv
	fs.srv = nil
	go srv.Stop()
	return status.Error(codes.Unavailable, "server stopping")
}

func indexOf(events []*record, revision uint64) int {
	for i, e := range events {
		if e.revision == revision {
			return i
		}
	}
	return -1
}

func wrongVersion(srv streams.Streams_AppendServer, opts *streams.AppendReq_Options, current int64) error {
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
	case *streams.AppendReq_Options_Any:
		wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	}
	return srv.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrong}})
}

// streamDeleted fails a call as KurrentDB does for a tombstoned stream; the client
// reads the trailers.
func streamDeleted(srv grpc.ServerStream, name string) error {
	srv.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", name))
	return status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", name)
}

func success(last *record) *streams.AppendResp {
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision},
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: last.position, PreparePosition: last.position,
		}},
	}}}
}

func (fs *Server) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	opts := req.GetOptions()
	_, all := opts.GetStreamOption().(*streams.ReadReq_Options_All)
	if err := fs.authorize(srv.Context(), all); err != nil {
		return err
	}
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
		if p, ok := so.All.GetAllOption().(*streams.ReadReq_Options_AllOptions_Position); ok && p.Position.GetCommitPosition() < p.Position.GetPreparePosition() {
			return status.Error(codes.InvalidArgument, "The commit position cannot be less than the prepare position")
		}
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

// SetStreamLimits sets stream's $maxCount and $maxAge (0: none) through its $$ metadata
// stream, as a user or tool would. As on KurrentDB, reads of the stream then skip all
// but the last maxCount events and those older than maxAge, revisions go on from where
// they were, and $all still carries every event (KurrentDB drops them only when it
// scavenges, which is not modelled).
func (fs *Server) SetStreamLimits(stream string, maxCount uint64, maxAge time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var limits []string
	if maxCount > 0 {
		limits = append(limits, fmt.Sprintf(`"$maxCount":%d`, maxCount))
	}
	if maxAge > 0 {
		limits = append(limits, fmt.Sprintf(`"$maxAge":%d`, int64(maxAge/time.Second)))
	}
	fs.appendLocked("$$"+stream, []*record{fs.system("$metadata", "{"+strings.Join(limits, ",")+"}")})
	st := fs.stream(stream)
	st.maxCount, st.maxAge = maxCount, maxAge
}

// Advance moves the server's clock forward by d: what it records from then on is d
// later, and $maxAge counts from the moved clock.
func (fs *Server) Advance(d time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.clockOffset += d
}

func (fs *Server) now() time.Time { return time.Now().Add(fs.clockOffset) }

// hidden reports whether a read of its stream skips e: truncated ($tb), beyond
// $maxCount or older than $maxAge.
func (st *streamState) hidden(e *record, now time.Time) bool {
	last := uint64(st.current())
	return e.revision < st.truncateBefore ||
		st.maxCount > 0 && e.revision+st.maxCount <= last ||
		st.maxAge > 0 && e.at.Before(now.Add(-st.maxAge))
}

func (fs *Server) readStream(o *streams.ReadReq_Options_StreamOptions, count uint64, srv streams.Streams_ReadServer) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	from := uint64(0)
	if r, ok := o.GetRevisionOption().(*streams.ReadReq_Options_StreamOptions_Revision); ok {
		from = r.Revision
	}
	fs.mu.Lock()
	st := fs.byStream[name]
	if st != nil && st.tombstoned {
		fs.mu.Unlock()
		return streamDeleted(srv, name)
	}
	var batch []*record
	found := false
	if st != nil {
		now := fs.now()
		for _, e := range st.events {
			if st.hidden(e, now) {
				continue
			}
			found = true
			if e.revision >= from && uint64(len(batch)) < count {
				batch = append(batch, e)
			}
		}
	}
	fs.mu.Unlock()
	if !found {
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
	var batch []*record
	for _, e := range fs.log {
		if e.position >= from && match(e.stream) && uint64(len(batch)) < count {
			batch = append(batch, e)
		}
	}
	fs.mu.Unlock()
	return sendAll(srv, batch)
}

// subscribeAll confirms, then sends every matching event after the start position
// (exclusive, as in KurrentDB), a checkpoint and "caught up", and keeps tailing until
// the client goes away, the server stops or DropSubscriptions is called. When more
// live events arrive at once than the live buffer holds, it falls back to catch-up
// ("fell behind") or, with DropSlowConsumers, ends the subscription as too slow.
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
	live := false
	for {
		fs.mu.Lock()
		var batch []*record
		for _, e := range fs.log[next:] {
			if match(e.stream) {
				batch = append(batch, e)
			}
		}
		var lastPos uint64
		if next < len(fs.log) {
			lastPos = fs.log[len(fs.log)-1].position
		}
		next = len(fs.log)
		changed := fs.changed
		fs.mu.Unlock()
		if live && len(batch) > LiveBuffer {
			if fs.DropSlowConsumers {
				return status.Error(codes.Aborted, "Consumer too slow to handle event while live. Client resubscription required.")
			}
			if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_FellBehind_{FellBehind: &streams.ReadResp_FellBehind{}}}); err != nil {
				return err
			}
			live = false
		}
		if err := sendAll(srv, batch); err != nil {
			return err
		}
		if lastPos > 0 {
			if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
				CommitPosition: lastPos, PreparePosition: lastPos,
			}}}); err != nil {
				return err
			}
		}
		if !live {
			if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
			live = true
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

func sendAll(srv streams.Streams_ReadServer, events []*record) error {
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
