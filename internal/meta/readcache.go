package meta

import (
	"sync"

	"github.com/opencontainers/go-digest"
)

// readCache answers the two hottest reads, a manifest by tag and a blob's
// size in a repository, from memory for as long as nothing at all was
// committed to the SQLite database, by this process or any other; the
// first read after any commit empties it. Profiled, the tag query was
// about a third of a manifest GET's server CPU, most of it SQLite's read
// transaction (shared-memory locks taken with fcntl) rather than the
// lookup itself. On PostgreSQL, where other nodes commit, there is no
// such cache.
type readCache struct {
	wal      *walWatcher
	maxBytes int

	mu        sync.Mutex
	gen       walGen
	bytes     int
	manifests map[tagKey]*Manifest
	blobSizes map[blobKey]int64
}

type tagKey struct{ repo, tag string }

type blobKey struct {
	repo string
	d    digest.Digest
}

const (
	// readCacheBytes bounds the cache's memory (payloads and keys); when
	// full it starts over, so the tags read most refill it.
	readCacheBytes = 4 << 20
	// readCacheMaxPayload keeps large manifests (big indexes) out of it.
	readCacheMaxPayload = 256 << 10
	entryOverhead       = 160 // bytes of a cached entry besides its strings
)

func newReadCache(wal *walWatcher, maxBytes int) *readCache {
	return &readCache{wal: wal, maxBytes: maxBytes, manifests: map[tagKey]*Manifest{}, blobSizes: map[blobKey]int64{}}
}

// snapshot returns the database's present commit state, to be taken
// before the query whose result may be kept: a result read after the
// snapshot is at least as new as it, so keeping it under that snapshot
// never serves older data than a query would. ok is false when the state
// cannot be read; nothing is cached then.
func (c *readCache) snapshot() (walGen, bool) {
	if c == nil {
		return walGen{}, false
	}
	return c.wal.current()
}

// syncLocked empties the cache when the database changed since it filled.
func (c *readCache) syncLocked(g walGen) {
	if g == c.gen {
		return
	}
	clear(c.manifests)
	clear(c.blobSizes)
	c.bytes, c.gen = 0, g
}

// stillAt reports whether the database is still at state g, read before
// a query: then the query's result is exactly that state's and may be
// kept (the cache is synced to g). A commit in between, or a reader that
// already moved the cache to a newer state, means it may not.
func (c *readCache) stillAt(g walGen) bool {
	now, ok := c.wal.current()
	if !ok || now != g {
		return false
	}
	c.syncLocked(g)
	return true
}

// reserveLocked makes room for an entry of n bytes, starting over when
// the cache is full; false when the entry is too large to keep.
func (c *readCache) reserveLocked(n int) bool {
	if n > c.maxBytes {
		return false
	}
	if c.bytes+n > c.maxBytes {
		clear(c.manifests)
		clear(c.blobSizes)
		c.bytes = 0
	}
	c.bytes += n
	return true
}

// manifest returns a copy of the manifest tagged repo:tag at state g.
func (c *readCache) manifest(g walGen, repo, tag string) (*Manifest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncLocked(g)
	m, ok := c.manifests[tagKey{repo, tag}]
	if !ok {
		return nil, false
	}
	cp := *m
	return &cp, true
}

// putManifest keeps a copy of m, read after snapshot g, unless the
// database has moved on since.
func (c *readCache) putManifest(g walGen, repo, tag string, m *Manifest) {
	if len(m.Payload) > readCacheMaxPayload {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stillAt(g) {
		return
	}
	n := entryOverhead + len(repo) + len(tag) + len(m.Payload) + len(m.Annotations) + len(m.MediaType) + len(m.ArtifactType)
	if !c.reserveLocked(n) {
		return
	}
	cp := *m
	c.manifests[tagKey{repo, tag}] = &cp
}

// blobSize returns the size of blob d in repo at state g.
func (c *readCache) blobSize(g walGen, repo string, d digest.Digest) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncLocked(g)
	size, ok := c.blobSizes[blobKey{repo, d}]
	return size, ok
}

// putBlobSize keeps a blob's size in repo, read after snapshot g.
func (c *readCache) putBlobSize(g walGen, repo string, d digest.Digest, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stillAt(g) {
		return
	}
	if !c.reserveLocked(entryOverhead + len(repo) + len(d)) {
		return
	}
	c.blobSizes[blobKey{repo, d}] = size
}

func (c *readCache) close() error { return c.wal.close() }
