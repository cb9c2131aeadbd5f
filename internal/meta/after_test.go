package meta

import (
	"slices"
	"testing"
)

// TestAfter checks that the PostgreSQL rewrite of "name > last" for a last
// that is not storable text selects exactly the names a bytewise > does.
func TestAfter(t *testing.T) {
	s := &SQL{d: postgresDialect}
	names := []string{"", "a", "a\x01", "a\u007f", "a\u0080", "a\u00ff", "a\u07ff", "a\u0800", "a\ud7ff", "a\ue000",
		"a\uffff", "a\U00010000", "a\U0010ffff", "a\U0010ffffb", "b", "v1", "v1\x01", "v1.0", "\U0010ffff", "\U0010ffff\U0010ffff"}
	slices.Sort(names)
	lasts := append(slices.Clone(names), "\xff", "\x00", "a\x00", "a\x80", "a\xc0", "a\xc2", "a\xc2\x00", "a\xe0\x80", "a\xed\xa0\x80",
		"a\xf4\x90", "a\xf5", "a\xff", "a\U0010ffff\xff", "\U0010ffff\xff", "v1\x00", "v1\x00zz", "\xf4\x8f\xbf\xbf\xff")
	for _, last := range lasts {
		op, arg, ok := s.after(last)
		if ok && !s.storable(arg) {
			t.Errorf("after(%q) = %q %q: not storable", last, op, arg)
		}
		for _, n := range names {
			want := n > last
			got := ok && ((op == ">" && n > arg) || (op == ">=" && n >= arg))
			if got != want {
				t.Errorf("after(%q) = %q %q %t: selects %q = %t, want %t", last, op, arg, ok, n, got, want)
			}
		}
	}
}
