package registry

import "sync"

// memoSize bounds the entries a memo keeps.
const memoSize = 4096

// memo keeps values that never change once known: what content under a
// digest says (a parsed image config, a manifest's description). Nothing
// in it can go stale, so there is no invalidation; when full it is emptied
// rather than tracking use, and callers refill what they need.
type memo[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]V
}

func (c *memo[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[k]
	return v, ok
}

func (c *memo[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= memoSize {
		c.entries = make(map[K]V, 64)
	}
	c.entries[k] = v
}
