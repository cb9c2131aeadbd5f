package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestMaskedYAML(t *testing.T) {
	c, _, err := Parse([]byte(seedConfig), []string{"REGISTRY_LOG_FIELDS_PASSWORD=hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.MaskedYAML()
	if err != nil {
		t.Fatalf("MaskedYAML: %v", err)
	}
	text := string(out)
	for _, secret := range []string{"yoursecret", "hunter2"} {
		if strings.Contains(text, secret) {
			t.Errorf("output shows secret %q:\n%s", secret, text)
		}
	}
	for _, want := range []string{
		"secret: '*****'",
		"password: '*****'",
		"rootdirectory: /var/lib/registry",
		"addr: :5000",
		"level: debug",
		"service: registry",
		"age: 168h0m0s",
		"idletimeout: 2m0s",
		"\n  delete:\n    enabled: true\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if c.HTTP.Secret != "yoursecret" || c.Log.Fields["password"] != "hunter2" {
		t.Error("MaskedYAML modified the config")
	}
}

func TestMaskedYAMLEmptySecretStaysEmpty(t *testing.T) {
	out, err := Default().MaskedYAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `secret: ""`) || strings.Contains(string(out), Mask) {
		t.Errorf("an unset secret should print as empty:\n%s", out)
	}
}

// The printed form must be a valid config that loads back to the same
// values (secrets aside), with no warnings but about harmless keys: that is what lets users start
// from `wharf config print` output.
func TestMaskedYAMLRoundTrip(t *testing.T) {
	c, _, err := Parse([]byte(seedConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.MaskedYAML()
	if err != nil {
		t.Fatal(err)
	}
	back, warnings, err := Parse(out, nil)
	if err != nil || len(notHarmless(warnings)) != 0 {
		t.Fatalf("reparse: warnings=%q err=%v\n%s", warnings, err, out)
	}
	back.HTTP.Secret = c.HTTP.Secret
	back.keys, c.keys = nil, nil
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", back, c)
	}
}
