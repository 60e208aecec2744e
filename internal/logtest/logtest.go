// Package logtest gives tests a place to send a component's log output and read it
// back while the component is still writing.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects log lines for assertions. Loggers write from their own goroutines
// while the test reads, so every access holds the lock.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
