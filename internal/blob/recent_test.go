package blob

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRecentWritesEviction(t *testing.T) {
	type add struct {
		path   string
		off, n int64
	}
	tests := []struct {
		name    string
		budget  int64
		adds    []add
		renames [][2]string // applied after the adds before the last one
		want    []span      // spans kept, oldest first
		total   int64
	}{
		{"under budget keeps all", 100, []add{{"a", 0, 40}, {"b", 0, 50}}, nil,
			[]span{{"a", 0, 40}, {"b", 0, 50}}, 90},
		{"oldest goes first", 100, []add{{"a", 0, 40}, {"b", 0, 50}, {"c", 0, 30}}, nil,
			[]span{{"b", 0, 50}, {"c", 0, 30}}, 80},
		{"chunks of one upload", 100, []add{{"a", 0, 40}, {"a", 40, 40}, {"a", 80, 40}}, nil,
			[]span{{"a", 40, 40}, {"a", 80, 40}}, 80},
		{"larger than the budget keeps its end", 100, []add{{"a", 0, 10}, {"b", 0, 250}}, nil,
			[]span{{"b", 150, 100}}, 100},
		{"zero length ignored", 100, []add{{"a", 0, 0}}, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := newRecentWrites(tt.budget)
			for _, a := range tt.adds {
				f := tempFile(t, dir, a.path, a.off+a.n)
				c.add(f, a.path, a.off, a.n)
				f.Close()
			}
			if !slices.Equal(c.spans, tt.want) || c.total != tt.total {
				t.Fatalf("spans %v total %d, want %v total %d", c.spans, c.total, tt.want, tt.total)
			}
		})
	}
}

func TestRecentWritesRename(t *testing.T) {
	c := newRecentWrites(100)
	c.spans = []span{{"up/a", 0, 60}, {"up/a", 60, 30}, {"up/b", 0, 10}}
	c.refs = map[string]int{"up/a": 2, "up/b": 1}
	c.total = 100
	c.rename("up/a", "blobs/a")
	c.rename("up/never", "blobs/x") // nothing kept of it: nothing to remember
	if _, ok := c.renamed["up/never"]; ok {
		t.Fatal("a rename of an unknown upload was remembered")
	}
	c.total += 50
	c.spans = append(c.spans, span{"up/c", 0, 50})
	c.refs["up/c"] = 1
	got := c.evictLocked()
	want := []span{{"blobs/a", 0, 60}}
	if !slices.Equal(got, want) {
		t.Fatalf("evicted %v, want %v", got, want)
	}
	if c.renamed["up/a"] != "blobs/a" {
		t.Fatal("rename forgotten while a span of the upload is still kept")
	}
	c.total += 100
	c.spans = append(c.spans, span{"up/d", 0, 100})
	c.refs["up/d"] = 1
	got = c.evictLocked()
	want = []span{{"blobs/a", 60, 30}, {"up/b", 0, 10}, {"up/c", 0, 50}}
	if !slices.Equal(got, want) {
		t.Fatalf("evicted %v, want %v", got, want)
	}
	if len(c.renamed) != 0 || c.refs["up/a"] != 0 {
		t.Fatalf("bookkeeping left behind: renamed %v refs %v", c.renamed, c.refs)
	}
}

func tempFile(t *testing.T, dir, name string, size int64) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}
