package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
)

const requestIDKey = "scanledger.request_id"

// maxRequestIDLen bounds a client's X-Request-Id. The id is written into the metadata
// of every event the request appends, and events are never rewritten, so it must stay
// small: 128 bytes hold a UUID, a ULID or a trace id with room to spare.
const maxRequestIDLen = 128

// requestID keeps the client's X-Request-Id when it is a short plain token (letters,
// digits and - _ . :) and mints a UUID otherwise, so correlation works for honest
// clients and nobody can write megabytes or control characters into the history. The
// id in use is echoed in the X-Request-Id response header.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !validRequestID(id) {
		id = domain.NewID()
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-Id", id)
	c.Next()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9',
			b == '-', b == '_', b == '.', b == ':':
		default:
			return false
		}
	}
	return true
}

// requestIDOf is the request's id as requestID settled it.
func requestIDOf(c *gin.Context) string {
	if v, ok := c.Get(requestIDKey); ok {
		if id, ok := v.(string); ok {
			return id
		}
	}
	return ""
}
