package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain/backoff"
)

func TestNextDoublesFromFirstUpToMax(t *testing.T) {
	p := backoff.Policy{First: 100 * time.Millisecond, Max: 350 * time.Millisecond}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 350 * time.Millisecond}
	d := time.Duration(0)
	for i, w := range want {
		d = p.Next(d)
		if d != w {
			t.Fatalf("pause %d: got %v, want %v", i+1, d, w)
		}
	}
}

func TestJitterStaysBetweenHalfAndWhole(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 7, time.Second} {
		for range 100 {
			if j := backoff.Jitter(d); j < d/2 || j > d {
				t.Fatalf("Jitter(%v) = %v, want within [%v, %v]", d, j, d/2, d)
			}
		}
	}
}

func TestSleepReturnsTheContextErrorWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep after cancel = %v, want context.Canceled", err)
	}
	if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep without cancel = %v, want nil", err)
	}
}
