package blob

import (
	"os"
	"sync"
)

// recentWrites keeps the most recently written upload bytes in the page
// cache, up to a budget, and drops older ones once the budget is passed.
//
// Why not drop every range once it is durable (as wharf did before): a
// pull right after a push (build, push, deploy) then reads the disk, and
// on this project's machines re-filling page cache just handed back costs
// the reader two to three times the CPU; measured, one reader of a just
// pushed 256 MiB layer got about a third of a registry that kept its
// pages. Why not keep everything: a registry's page cache would fill with
// layers written once and rarely read, pushing out what is pulled.
type recentWrites struct {
	budget int64

	mu      sync.Mutex
	spans   []span            // oldest first
	total   int64             // bytes in spans
	renamed map[string]string // upload path -> committed blob path
	refs    map[string]int    // spans per upload path, to forget renames
}

// span is a durable range of an upload file still in the page cache.
type span struct {
	path   string // the upload file's path when written
	off, n int64
}

func newRecentWrites(budget int64) *recentWrites {
	return &recentWrites{budget: budget, renamed: map[string]string{}, refs: map[string]int{}}
}

// add records a durable range of f (at path) and drops the oldest ranges
// past the budget. A range larger than the whole budget keeps only its end.
func (c *recentWrites) add(f *os.File, path string, off, n int64) {
	if n <= 0 {
		return
	}
	if c.budget <= 0 {
		dropCache(f, off, n)
		return
	}
	if n > c.budget {
		dropCache(f, off, n-c.budget)
		off, n = off+n-c.budget, c.budget
	}
	c.mu.Lock()
	c.spans = append(c.spans, span{path: path, off: off, n: n})
	c.refs[path]++
	c.total += n
	evict := c.evictLocked()
	c.mu.Unlock()
	for _, s := range evict {
		if s.path == path {
			dropCache(f, s.off, s.n)
			continue
		}
		dropPath(s.path, s.off, s.n)
	}
}

// evictLocked removes the oldest spans until the total fits the budget and
// returns them with the path their bytes live at now.
func (c *recentWrites) evictLocked() []span {
	var out []span
	i := 0
	for ; i < len(c.spans) && c.total > c.budget; i++ {
		s := c.spans[i]
		c.total -= s.n
		if now, ok := c.renamed[s.path]; ok {
			s.path = now
		}
		c.forgetLocked(c.spans[i].path)
		out = append(out, s)
	}
	if i > 0 {
		c.spans = append(c.spans[:0], c.spans[i:]...)
	}
	return out
}

func (c *recentWrites) forgetLocked(path string) {
	c.refs[path]--
	if c.refs[path] <= 0 {
		delete(c.refs, path)
		delete(c.renamed, path)
	}
}

// rename notes that an upload file became a committed blob, so its ranges
// are dropped from the right file later.
func (c *recentWrites) rename(from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs[from] > 0 {
		c.renamed[from] = to
	}
}

// dropPath drops a range of the file at path from the page cache; a file
// already removed has no pages left to drop.
func dropPath(path string, off, n int64) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	dropCache(f, off, n)
	f.Close()
}
