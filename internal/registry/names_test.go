package registry

import (
	"regexp"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"hello", true},
		{"library/hello-world", true},
		{"a/b/c/d", true},
		{"my.app_v2__x--y", true},
		{"a0/1b", true},
		{"", false},
		{"Hello", false},
		{"a//b", false},
		{"a/../b", false},
		{"..", false},
		{"a/", false},
		{"/a", false},
		{"-a", false},
		{"a-", false},
		{"a___b", false},
		{"a b", false},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%t", tt.name, err, tt.ok)
		}
		if err != nil {
			if e, _ := AsError(err); e == nil || e.Code != CodeNameInvalid {
				t.Errorf("ValidateName(%q) code = %v, want NAME_INVALID", tt.name, err)
			}
		}
	}
}

func TestValidateTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"latest", true},
		{"v1.2.3", true},
		{"_x", true},
		{"A-b_c.D", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"-bad", false},
		{".bad", false},
		{"a/b", false},
		{"a:b", false},
	}
	for _, tt := range tests {
		if err := ValidateTag(tt.tag); (err == nil) != tt.ok {
			t.Errorf("ValidateTag(%q) = %v, want ok=%t", tt.tag, err, tt.ok)
		}
	}
}

func TestParseDigest(t *testing.T) {
	good256 := "sha256:" + strings.Repeat("a", 64)
	good512 := "sha512:" + strings.Repeat("b", 128)
	tests := []struct {
		in string
		ok bool
	}{
		{good256, true},
		{good512, true},
		{"sha256:" + strings.Repeat("A", 64), false},
		{"sha256:xyz", false},
		{"sha256:" + strings.Repeat("a", 63), false},
		{"md5:" + strings.Repeat("a", 32), false},
		{"latest", false},
		{"", false},
	}
	for _, tt := range tests {
		_, err := ParseDigest(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDigest(%q) = %v, want ok=%t", tt.in, err, tt.ok)
		}
		if err != nil {
			if e, _ := AsError(err); e == nil || e.Code != CodeDigestInvalid {
				t.Errorf("ParseDigest(%q) code = %v, want DIGEST_INVALID", tt.in, err)
			}
		}
	}
}

// The spec's grammars as regular expressions: the loops in names.go must
// agree with them on every input (FuzzValidateName and FuzzValidateTag
// check it too).
var (
	specNameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	specTagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

var grammarSeeds = []string{
	"", "a", "A", "a/b", "a//b", "/a", "a/", "a.b", "a..b", "a_b", "a__b", "a___b", "a-b", "a---b",
	"a.-b", "a-.b", "a_-b", "-a", "a-", ".a", "a.", "_a", "a_", "library/ubuntu", "my-org/my.app__x/v-2",
	"a/b_/c", "ab.c_d__e-f--g", "a b", "é", "a\x00b", "_tag", ".tag", "-tag", "Tag.v1-rc_2",
	strings.Repeat("a", 128), strings.Repeat("a", 129),
}

func TestNameGrammarMatchesSpec(t *testing.T) {
	for _, s := range grammarSeeds {
		checkGrammars(t, s)
	}
}

func checkGrammars(t *testing.T, s string) {
	if len(s) <= maxNameLength {
		if got, want := validName(s), specNameRE.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, the spec's grammar says %v", s, got, want)
		}
	}
	if got, want := validTag(s), specTagRE.MatchString(s); got != want {
		t.Errorf("validTag(%q) = %v, the spec's grammar says %v", s, got, want)
	}
}
