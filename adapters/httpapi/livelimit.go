package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// liveLimiter caps the live connections (SSE, WebSocket, Socket.IO) open at once per user and per
// client address in this process, as Centrifugo caps connections per user: one account
// or one address cannot hold thousands of streams. Beyond a cap the stream is refused
// with 429 before it starts.
type liveLimiter struct {
	perUser, perIP int

	mu         sync.Mutex
	users      map[string]int
	ips        map[string]int
	transports map[string]int // open now, for LiveConnections
}

func newLiveLimiter(perUser, perIP int) *liveLimiter {
	return &liveLimiter{perUser: perUser, perIP: perIP, users: map[string]int{}, ips: map[string]int{}, transports: map[string]int{}}
}

// acquire counts one stream of transport for user from ip, or refuses it; release
// undoes it.
func (l *liveLimiter) acquire(user, ip, transport string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users[user] >= l.perUser {
		return nil, domain.Errorf(domain.ERATELIMIT, "Too many live connections for this user (at most %d)", l.perUser)
	}
	if l.ips[ip] >= l.perIP {
		return nil, domain.Errorf(domain.ERATELIMIT, "Too many live connections from this address (at most %d)", l.perIP)
	}
	l.users[user]++
	l.ips[ip]++
	l.transports[transport]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.users[user]--; l.users[user] <= 0 {
				delete(l.users, user)
			}
			if l.ips[ip]--; l.ips[ip] <= 0 {
				delete(l.ips, ip)
			}
			l.transports[transport]--
		})
	}, nil
}

// AdmitLive applies the API's live-connection rules to a transport served outside its
// router (Socket.IO, mounted beside it): a deleted or revoked user's token is refused
// (EUNAUTHORIZED) and the per-user and per-address caps are shared with SSE and
// WebSocket (ERATELIMIT). r is the request that opened the connection; release frees
// the place when the connection ends. It has relay.Admit's shape.
func (s *Server) AdmitLive(ctx context.Context, cl auth.Claims, r *http.Request) (release func(), err error) {
	if err := s.revoked.check(ctx, cl); err != nil {
		return nil, err
	}
	return s.live.acquire(cl.UserID, s.clientIP(r), "socketio")
}

// LiveConnections returns the live connections open now on this instance by transport
// ("sse", "websocket", "socketio").
func (s *Server) LiveConnections() map[string]int {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	out := map[string]int{"sse": 0, "websocket": 0, "socketio": 0}
	for t, n := range s.live.transports {
		out[t] = n
	}
	return out
}

// clientIP is the address a request came from, as the router's ClientIP sees it: the
// connection's peer, unless that peer is a trusted proxy, in which case the nearest
// X-Forwarded-For address that is not one.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !s.trustedProxy(ip) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if i == 0 || !s.trustedProxy(hop) {
			return hop.String()
		}
	}
	return host
}

func (s *Server) trustedProxy(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.TrustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil && pfx.Contains(ip) {
			return true
		}
		if a, err := netip.ParseAddr(p); err == nil && a.Unmap() == ip {
			return true
		}
	}
	return false
}
