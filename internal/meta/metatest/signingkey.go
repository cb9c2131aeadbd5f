package metatest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/wharf-registry/wharf/internal/meta"
)

// testSigningKey checks that the first key stored under a name is the one
// every later and every concurrent caller gets, whatever it offers.
func testSigningKey(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if _, err := s.SigningKey(ctx, "a", nil); err == nil {
		t.Fatal("SigningKey with nothing stored and no candidate: no error")
	}
	first, err := s.SigningKey(ctx, "a", []byte("key-a1"))
	if err != nil {
		t.Fatalf("SigningKey: %v", err)
	}
	if string(first) != "key-a1" {
		t.Fatalf("first SigningKey = %q, want the candidate key-a1", first)
	}
	for _, candidate := range [][]byte{[]byte("key-a2"), nil} {
		got, err := s.SigningKey(ctx, "a", candidate)
		if err != nil || string(got) != "key-a1" {
			t.Fatalf("SigningKey(a, %q) = %q, %v; want the stored key-a1", candidate, got, err)
		}
	}

	// Concurrent first starts of several nodes agree on one key.
	var mu sync.Mutex
	seen := map[string]bool{}
	var errs []error
	runBounded(concurrency, func(i int) {
		got, err := s.SigningKey(ctx, "b", []byte(fmt.Sprintf("key-b%d", i)))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		seen[string(got)] = true
	})
	if len(errs) > 0 {
		t.Fatalf("concurrent SigningKey: %v", errs[0])
	}
	if len(seen) != 1 {
		t.Fatalf("concurrent SigningKey returned %d different keys, want 1: %v", len(seen), seen)
	}
	got, err := s.SigningKey(ctx, "a", nil)
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("key a after storing b = %q, %v; want %q", got, err, first)
	}
}
