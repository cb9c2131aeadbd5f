package config

import (
	"strings"
	"testing"
)

// TestAliasCycle: an alias inside the value it names is refused with its
// line, in the file and in a variable, instead of walked forever.
func TestAliasCycle(t *testing.T) {
	for _, tc := range []struct{ name, file, env string }{
		{"merge of itself", "e: &base\n log:\n  <<: *base\n", ""},
		{"list holding itself", "x: &a [1, *a]\n", ""},
		{"variable", "", "REGISTRY_LOG=&l {fields: *l}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var environ []string
			if tc.env != "" {
				environ = []string{tc.env}
			}
			_, _, err := Parse([]byte(tc.file), environ)
			if err == nil || !strings.Contains(err.Error(), "refers to a value that contains it") {
				t.Fatalf("Parse = %v, want the alias cycle refused", err)
			}
		})
	}
}
