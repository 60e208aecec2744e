package personal_test

import (
	"context"
	"testing"

	"github.com/scanledger/scanledger/domain/personal"
	"github.com/scanledger/scanledger/domain/personal/personaltest"
)

func TestMemoryKeysBehaveAsKeys(t *testing.T) { personaltest.Run(t, personaltest.NewMemory()) }

func TestASealedBoxOpensOnlyForItsOwner(t *testing.T) {
	ctx := context.Background()
	c := &personal.Cipher{Keys: personaltest.NewMemory()}
	s, err := c.Seal(ctx, "alice", map[string]string{"address": "1 Main St"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Seal(ctx, "bob", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	// Relabelling the box to another owner (whose key exists) fails authentication.
	moved := *s
	moved.Owner = "bob"
	var out map[string]string
	if err := c.Open(ctx, &moved, &out); err == nil {
		t.Fatalf("a box opened under another owner's key: %v", out)
	}
	flipped := *s
	flipped.Box = append([]byte(nil), s.Box...)
	flipped.Box[len(flipped.Box)-1] ^= 1
	if err := c.Open(ctx, &flipped, &out); err == nil {
		t.Fatal("an edited box opened")
	}
}

func TestLegacyPlainFieldsOpenWithoutAKey(t *testing.T) {
	c := &personal.Cipher{}
	var out map[string]string
	if err := c.Open(context.Background(), &personal.Sealed{Plain: []byte(`{"address":"1 Main St"}`)}, &out); err != nil || out["address"] != "1 Main St" {
		t.Fatalf("%v %v", out, err)
	}
}

// The cost of sealing and opening one address (keys in memory: the key store's read
// is the adapter's cost, measured by the command benchmarks).
func BenchmarkSealAndOpenAnAddress(b *testing.B) {
	ctx := context.Background()
	c := &personal.Cipher{Keys: personaltest.NewMemory()}
	type fields struct {
		Address string `json:"address"`
	}
	in := fields{Address: "17 Forgetme Lane, Springfield"}
	for b.Loop() {
		s, err := c.Seal(ctx, "alice", in)
		if err != nil {
			b.Fatal(err)
		}
		var out fields
		if err := c.Open(ctx, s, &out); err != nil {
			b.Fatal(err)
		}
	}
}
