package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// mergeBomb is depth levels of anchors, each merging the previous one ten
// times, merged into log: 10^depth values to decode.
func mergeBomb(depth int) string {
	var b strings.Builder
	b.WriteString("m0: &m0 {level: info}\n")
	for i := 1; i <= depth; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "m%d: &m%d {<<: [%s]}\n", i, i, refs)
	}
	fmt.Fprintf(&b, "log:\n  <<: *m%d\n", depth)
	return b.String()
}

// TestParseExpansionBounded: aliases and merge keys work, but a file whose
// anchors expand to billions of values is refused with one error instead
// of hanging `serve` and `config check`.
func TestParseExpansionBounded(t *testing.T) {
	for _, tc := range []struct {
		name, file, env string
		tooComplex      bool
	}{
		{"anchors a config uses", mergeBomb(2), "", false},
		{"billion laughs", mergeBomb(9), "", true},
		{"billion laughs in a variable", "", "REGISTRY_LOG=" + strings.Replace(mergeBomb(9), "log:\n  <<:", "<<:", 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			if tc.env != "" {
				env = []string{tc.env}
			}
			_, _, err := Parse([]byte(tc.file), env)
			if got := errors.Is(err, errTooComplex); got != tc.tooComplex {
				t.Fatalf("err %v, want too complex: %v", err, tc.tooComplex)
			}
			if tc.tooComplex && strings.Count(err.Error(), errTooComplex.Error()) != 1 {
				t.Errorf("the expansion error repeats: %v", err)
			}
		})
	}
}
