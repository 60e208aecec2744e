package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/scanledger/scanledger/adapters/socketio"
	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// SocketIONamespace is the namespace the PWA connects to (contracts section 2).
const SocketIONamespace = "/scans"

// Messages a refused Socket.IO client reads in connect_error.
const (
	msgUnauthorized = "Unauthorized"
	msgExpired      = "Token expired"
	msgUnavailable  = "Service unavailable"
)

// SocketIO is the Socket.IO endpoint to mount at /socket.io/: namespace /scans, the
// PWA's default transports (long-polling, then upgrade to WebSocket), the contract's
// events with their feed sequence as socket.io's recovery offset. Set its fields, then
// serve it; Close it on shutdown.
//
// The CONNECT auth object must carry an access token ({token}); a missing, invalid or
// refresh token is refused with connect_error "Unauthorized", an expired one with
// "Token expired". socket.io-client adds {pid, offset} when it reconnects; the resume
// is honoured (socket.recovered) only when pid was issued by this server to the same
// user, which PIDKey makes verifiable without storing anything.
//
// With Sessions, a reconnecting client (one presenting a pid this server issued to
// the same user) may present an expired access token, as long as the login session the
// token names is still alive: socket.io-client never retries a refused CONNECT and the
// PWA only hands it a new token at login or page load, so refusing would end live
// updates for good after any restart more than an access lifetime after the user's
// last API call. Revoking the session (a replayed refresh token, a password change)
// ends this too.
type SocketIO struct {
	Hub    *Hub
	Tokens Tokens
	// PIDKey signs the private session ids (at least 16 bytes, kept secret).
	PIDKey    []byte
	Heartbeat time.Duration // Engine.IO's ping interval; default DefaultHeartbeat
	// Origins are the cross-site browser origins allowed, as full origins or "*" (see
	// WebSocket.Origins); default none.
	Origins []string
	// Sessions, when set, lets a reconnecting client present an expired access token
	// while the login session it names is alive (see SocketIO). Default: every
	// expired token is refused.
	Sessions Sessions
	// Admit, when set, is consulted for every connection whose token verified, so the
	// same revocation check and connection caps apply as on the API's SSE and
	// WebSocket routes (which consult theirs before they hand over).
	Admit  Admit
	Logger *slog.Logger // default: discarded

	once sync.Once
	srv  *socketio.Server
}

// server builds the Engine.IO server on first use. It panics when PIDKey is shorter
// than 16 bytes, a programming error: on every call, not only the first, so that a
// recovered panic does not leave later requests on a server that was never built.
func (c *SocketIO) server() *socketio.Server {
	if len(c.PIDKey) < 16 {
		panic("relay: socket.io pid key shorter than 16 bytes")
	}
	c.once.Do(func() {
		log := orDiscard(c.Logger)
		g := &sioGlue{hub: c.Hub, tokens: c.Tokens, pids: pidSigner{key: c.PIDKey}, sessions: c.Sessions, admit: c.Admit, log: log}
		c.srv = &socketio.Server{
			Namespace:    SocketIONamespace,
			PingInterval: orDefault(c.Heartbeat, DefaultHeartbeat),
			Origins:      c.Origins,
			Connect:      g.connect,
			Logger:       log,
		}
	})
	return c.srv
}

// ServeHTTP answers the Engine.IO requests of /socket.io/.
func (c *SocketIO) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.server().ServeHTTP(w, r) }

// Close closes every connection and waits for what the endpoint started.
func (c *SocketIO) Close() { c.server().Close() }

// Tokens verifies access tokens (adapters/token.Issuer, composed in cmd).
type Tokens interface {
	Verify(raw, kind string) (auth.Claims, error)
	VerifyLapsed(raw, kind string) (auth.Claims, error)
}

type sioGlue struct {
	hub      *Hub
	tokens   Tokens
	pids     pidSigner
	sessions Sessions
	admit    Admit
	log      *slog.Logger
}

// Sessions tells whether a login session (refresh-token family) is still alive: not
// revoked and not expired.
type Sessions interface {
	SessionActive(ctx context.Context, userID, session string) (bool, error)
}

// sioAuth is the CONNECT auth object. Fields stay raw so that a field of the wrong
// type makes only that field count as absent.
type sioAuth struct {
	Token  json.RawMessage `json:"token"`
	PID    json.RawMessage `json:"pid"`
	Offset json.RawMessage `json:"offset"`
}

func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func (g *sioGlue) connect(ctx context.Context, r *http.Request, handshake json.RawMessage) (*socketio.Session, error) {
	var a sioAuth
	if err := json.Unmarshal(handshake, &a); err != nil {
		return nil, errors.New(msgUnauthorized)
	}
	raw := rawString(a.Token)
	if raw == "" {
		return nil, errors.New(msgUnauthorized)
	}
	cl, err := g.tokens.Verify(raw, auth.Access)
	if err != nil {
		// The token package reports expiry with this message; everything else (bad
		// signature, refresh token, wrong audience) is plainly unauthorized.
		if domain.ErrorMessage(err) != msgExpired {
			return nil, errors.New(msgUnauthorized)
		}
		if cl, err = g.lapsed(ctx, raw, rawString(a.PID)); err != nil {
			return nil, err
		}
	}
	release := func() {}
	if g.admit != nil {
		var err error
		release, err = g.admit(ctx, cl, r)
		if err != nil {
			switch domain.ErrorCode(err) {
			case domain.EUNAUTHORIZED, domain.ERATELIMIT:
				return nil, errors.New(domain.ErrorMessage(err))
			}
			if ctx.Err() == nil {
				g.log.Warn("relay: socket.io admission", "user", cl.UserID, "err", err)
			}
			return nil, errors.New(msgUnavailable) //lint:ignore ST1005 the text is the wire message clients show
		}
		// ctx lasts as long as the socket: its end frees the connection's place.
		release = sync.OnceFunc(release)
		context.AfterFunc(ctx, release)
	}
	resume := g.resume(cl.UserID, rawString(a.PID), a.Offset)
	sub, err := g.hub.Subscribe(ctx, cl.UserID, resume, "")
	if err != nil {
		release()             // a refused socket may not end its ctx at once
		if ctx.Err() == nil { // else the socket went away meanwhile: nothing to report
			g.log.Warn("relay: socket.io subscribe", "user", cl.UserID, "err", err)
		}
		return nil, errors.New(msgUnavailable) //lint:ignore ST1005 the text is the wire message clients show
	}
	// Engine.IO pings the connection itself: the writer needs no heartbeat.
	s := &socketio.Session{Start: func(out *socketio.Sender) { sub.Deliver(sioWriter{out}, 0) }, Recovered: sub.Resumed()}
	if !s.Recovered {
		s.PID = g.pids.issue(cl.UserID, sub.After())
	}
	return s, nil
}

// lapsed judges an expired access token presented by a reconnecting client: it is
// honoured when it is genuine, the pid was issued to its user (so this is a connection
// that was once authenticated, coming back) and the token's login session is still
// alive. Anything else is "Token expired", as without Sessions.
func (g *sioGlue) lapsed(ctx context.Context, raw, pid string) (auth.Claims, error) {
	if g.sessions == nil || pid == "" {
		return auth.Claims{}, errors.New(msgExpired)
	}
	cl, err := g.tokens.VerifyLapsed(raw, auth.Access)
	if err != nil {
		return auth.Claims{}, errors.New(msgExpired)
	}
	if _, ok := g.pids.verify(pid, cl.UserID); !ok {
		return auth.Claims{}, errors.New(msgExpired)
	}
	alive, err := g.sessions.SessionActive(ctx, cl.UserID, cl.Session)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("relay: socket.io session check", "user", cl.UserID, "err", err)
		}
		return auth.Claims{}, errors.New(msgUnavailable) //lint:ignore ST1005 the text is the wire message clients show
	}
	if !alive {
		return auth.Claims{}, errors.New(msgExpired)
	}
	return cl, nil
}

// resume turns a reconnecting client's pid and offset into a Resume. Without a pid
// that verifies for this user there is nothing to resume: a pid copied from another
// user (or forged) starts at the live end like a first connection. Without an offset
// the client saw no event since the pid was issued, so it resumes from where that
// connection started.
func (g *sioGlue) resume(userID, pid string, offset json.RawMessage) Resume {
	if pid == "" {
		return Resume{}
	}
	start, ok := g.pids.verify(pid, userID)
	if !ok {
		return Resume{}
	}
	if len(offset) == 0 || bytes.Equal(offset, []byte("null")) {
		return Resume{After: start, Set: true}
	}
	n, err := strconv.ParseInt(rawString(offset), 10, 64)
	if err != nil || n < 0 {
		// An offset we never sent: make the hub answer with a resync.
		return Resume{After: -1, Set: true}
	}
	return Resume{After: n, Set: true}
}

// sioWriter makes a socket the subscription's Writer: each message is queued on the
// Engine.IO connection, whose own writer (the WebSocket's, or the pending poll)
// sends it. When the subscription ends (slow client, hub stopped) the connection is
// closed after what is queued, so socket.io-client reconnects and recovers by itself.
type sioWriter struct{ out *socketio.Sender }

func (w sioWriter) Write(m Message) error {
	return w.out.Send(socketio.Message{ID: strconv.FormatInt(m.ID, 10), Event: m.Event, Data: m.Data})
}
func (w sioWriter) Flush() error     { return nil }
func (w sioWriter) Heartbeat() error { return nil }
func (w sioWriter) End(error)        { w.out.Close() }

// pidSigner makes Socket.IO private session ids that the server can check without
// keeping them: a random nonce (so every connection's pid differs, which socket.io's
// recovered flag relies on), the sequence the connection started after, and an HMAC
// over both and the user id.
type pidSigner struct{ key []byte }

const (
	pidNonce = 8
	pidMAC   = 16
)

func (p pidSigner) issue(userID string, after int64) string {
	b := make([]byte, pidNonce, pidNonce+binary.MaxVarintLen64+pidMAC)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	b = binary.AppendUvarint(b, uint64(max(after, 0)))
	return base64.RawURLEncoding.EncodeToString(append(b, p.mac(userID, b)...))
}

func (p pidSigner) verify(pid, userID string) (after int64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(pid)
	if err != nil || len(b) < pidNonce+1+pidMAC {
		return 0, false
	}
	body, mac := b[:len(b)-pidMAC], b[len(b)-pidMAC:]
	if !hmac.Equal(mac, p.mac(userID, body)) {
		return 0, false
	}
	n, k := binary.Uvarint(body[pidNonce:])
	if k <= 0 || pidNonce+k != len(body) || n > 1<<62 {
		return 0, false
	}
	return int64(n), true
}

func (p pidSigner) mac(userID string, body []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("scanledger socket.io pid\x00"))
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)[:pidMAC]
}
