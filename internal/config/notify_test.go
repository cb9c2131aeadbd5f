package config

import (
	"strings"
	"testing"
	"time"
)

// distributionNotifications is distribution's documented notifications
// block, unchanged, with wharf's additions on the second endpoint.
const distributionNotifications = `version: 0.1
notifications:
  events:
    includereferences: true
  endpoints:
    - name: alistener
      disabled: false
      url: https://my.listener.com/event
      headers:
        Authorization: [Bearer token-that-must-not-show]
      timeout: 1s
      threshold: 10
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
      ignore:
        mediatypes:
           - application/octet-stream
        actions:
           - pull
    - name: signed
      url: http://127.0.0.1:9/hook
      maxage: 1h
      maxattempts: 20
      maxbackoff: 1m
      format: cloudevents
      skipheadpulls: true
      secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]
`

func TestNotificationsConfig(t *testing.T) {
	cfg, warnings, err := Parse([]byte(distributionNotifications), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	n := cfg.Notifications
	if !n.Events.IncludeReferences || len(n.Endpoints) != 2 {
		t.Fatalf("notifications = %+v", n)
	}
	a, b := n.Endpoints[0], n.Endpoints[1]
	if a.URL != "https://my.listener.com/event" || a.Timeout != time.Second || a.Threshold != 10 ||
		a.Headers["Authorization"][0] != "Bearer token-that-must-not-show" ||
		a.IgnoredMediaTypes[0] != "application/octet-stream" || a.Ignore.Actions[0] != "pull" {
		t.Errorf("endpoint a = %+v", a)
	}
	if b.MaxAge != time.Hour || b.MaxAttempts != 20 || b.Format != FormatCloudEvents || !b.SkipHeadPulls || len(b.Secrets) != 1 {
		t.Errorf("endpoint b = %+v", b)
	}
	if n.Retention != 168*time.Hour {
		t.Errorf("retention = %s, want the default 168h", n.Retention)
	}
	masked, err := cfg.MaskedYAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"token-that-must-not-show", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if strings.Contains(string(masked), secret) {
			t.Errorf("MaskedYAML shows %q:\n%s", secret, masked)
		}
	}
	checkRoundTrip(t, cfg)
}

func TestNotificationsInvalid(t *testing.T) {
	tests := []struct {
		name, endpoint, want string
	}{
		{"no name", "url: http://x", "notifications.endpoints[0].name"},
		{"bad url", "name: a\n      url: ftp://x", "notifications.endpoints[0].url"},
		{"bad format", "name: a\n      url: http://x\n      format: xml", "notifications.endpoints[0].format"},
		{"bad secret", "name: a\n      url: http://x\n      secrets: [whsec_!!]", "notifications.endpoints[0].secrets"},
		{"bad action", "name: a\n      url: http://x\n      ignore: {actions: [pul]}", "notifications.endpoints[0].ignore.actions"},
		{"negative attempts", "name: a\n      url: http://x\n      maxattempts: -1", "notifications.endpoints[0].maxattempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte("notifications:\n  endpoints:\n    - "+tt.endpoint+"\n"), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}
