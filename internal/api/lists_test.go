package api

import (
	"net/http/httptest"
	"testing"
)

func TestPagination(t *testing.T) {
	tests := []struct {
		query string
		def   int
		want  int
	}{
		{"", 1000, 1000},
		{"", -1, -1},
		{"n=0", 1000, 0},
		{"n=5", 1000, 5},
		{"n=10000", -1, maxPage},
		{"n=10001", -1, maxPage},
		{"n=99999999999999999999999", -1, maxPage},
		{"n=-1", 1000, 0},
		{"n=-99999999999999999999999", 1000, 0},
		{"n=abc", 1000, 1000},
		{"n=1.5", -1, -1},
		{"n=", 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2/_catalog?"+tt.query+"&last=x", nil)
			n, last := pagination(r, tt.def)
			if n != tt.want || last != "x" {
				t.Errorf("pagination(%q, %d) = %d %q, want %d \"x\"", tt.query, tt.def, n, last, tt.want)
			}
		})
	}
}
