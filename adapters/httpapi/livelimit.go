package httpapi

import (
	"sync"

	"github.com/scanledger/scanledger/domain"
)

// liveLimiter caps the live streams (SSE and WebSocket) open at once per user and per
// client address in this process, as Centrifugo caps connections per user: one account
// or one address cannot hold thousands of streams. Beyond a cap the stream is refused
// with 429 before it starts.
type liveLimiter struct {
	perUser, perIP int

	mu    sync.Mutex
	users map[string]int
	ips   map[string]int
}

func newLiveLimiter(perUser, perIP int) *liveLimiter {
	return &liveLimiter{perUser: perUser, perIP: perIP, users: map[string]int{}, ips: map[string]int{}}
}

// acquire counts one stream for user from ip, or refuses it; release undoes it.
func (l *liveLimiter) acquire(user, ip string) (release func(), err error) {
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
		})
	}, nil
}
