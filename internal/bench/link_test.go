package bench

import "testing"

func TestNextLink(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
		wantOK bool
	}{
		{"empty", "", "", false},
		{"wharf catalog", `</v2/_catalog?last=cat%2Fr00099&n=100>; rel="next"`, "/v2/_catalog?last=cat%2Fr00099&n=100", true},
		{"distribution catalog", `</v2/_catalog?last=cat%2Fr00099&n=100>; rel="next"`, "/v2/_catalog?last=cat%2Fr00099&n=100", true},
		{"unquoted rel", `</v2/x/tags/list?n=10&last=b>; rel=next`, "/v2/x/tags/list?n=10&last=b", true},
		{"upper case rel", `</a>; REL="Next"`, "/a", true},
		{"absolute URL", `<http://127.0.0.1:5000/v2/_catalog?n=1&last=a>; rel="next"`, "http://127.0.0.1:5000/v2/_catalog?n=1&last=a", true},
		{"other rel only", `</v2/_catalog?n=1>; rel="prev"`, "", false},
		{"next after prev", `</p>; rel="prev", </n>; rel="next"`, "/n", true},
		{"comma in URL", `</v2/_catalog?last=a,b&n=2>; rel="next"`, "/v2/_catalog?last=a,b&n=2", true},
		{"several rel values", `</n>; rel="prev next"`, "/n", true},
		{"extra params", `</n>; title="x"; rel="next"`, "/n", true},
		{"no brackets", `/v2/_catalog; rel="next"`, "", false},
		{"unterminated", `</v2/_catalog; rel="next"`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NextLink(tt.header)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("NextLink(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
