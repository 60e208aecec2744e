package domain

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewID returns a random RFC 9562 version 4 UUID in its canonical text form. Every
// identifier scanledger mints (scans, houses, rooms, images, events) is one of these,
// as in the original backend's schema.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

// NewEventID returns a random RFC 9562 version 7 UUID: its first 48 bits are the Unix
// time in milliseconds, so ids minted close together sort close together. Event ids use
// it because every store keeps a unique index on them, and random (v4) keys dirty one
// index page per event where time-ordered ones share a few (about 3x the batched append
// rate on SQLite).
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

func format(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ValidID reports whether s is a canonical lower- or upper-case UUID. Path parameters
// are checked with it so a malformed id is a 404, never a database error.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
