package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Notification formats (notifications.endpoints[].format).
const (
	FormatV1          = "v1"
	FormatV2          = "v2"
	FormatCloudEvents = "cloudevents"
)

// notificationActions are the actions distribution's ignore.actions names.
var notificationActions = []string{"push", "pull", "mount", "delete"}

// DecodeWebhookSecret returns the key bytes of a Standard Webhooks secret
// ("whsec_" and base64; the prefix may be left out).
func DecodeWebhookSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil {
		return nil, errors.New("must be whsec_ followed by base64")
	}
	if len(key) < 16 {
		return nil, errors.New("must hold at least 16 bytes of key")
	}
	return key, nil
}

// validateNotifications checks the endpoints: a unique name each (the name
// keys the delivery state in the database), an http(s) URL, sane limits.
func (c *Config) validateNotifications(add func(key string, err error)) {
	n := c.Notifications
	add("notifications.retention", checkNonNegative(n.Retention))
	seen := map[string]bool{}
	for i, e := range n.Endpoints {
		key := fmt.Sprintf("notifications.endpoints[%d]", i)
		switch {
		case e.Name == "":
			add(key+".name", errors.New("must not be empty"))
		case seen[e.Name]:
			add(key+".name", fmt.Errorf("%q names two endpoints", e.Name))
		}
		seen[e.Name] = true
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(key+".url", errors.New("must be an http or https URL"))
		}
		add(key+".timeout", checkNonNegative(e.Timeout))
		add(key+".backoff", checkNonNegative(e.Backoff))
		add(key+".maxbackoff", checkNonNegative(e.MaxBackoff))
		add(key+".maxage", checkNonNegative(e.MaxAge))
		if e.Threshold < 0 {
			add(key+".threshold", errors.New("must not be negative"))
		}
		if e.MaxAttempts < 0 {
			add(key+".maxattempts", errors.New("must not be negative"))
		}
		switch strings.ToLower(e.Format) {
		case "", FormatV1, FormatV2, FormatCloudEvents:
		default:
			add(key+".format", fmt.Errorf("must be %s, %s or %s", FormatV1, FormatV2, FormatCloudEvents))
		}
		for _, s := range e.Secrets {
			if _, err := DecodeWebhookSecret(s); err != nil && s != Mask {
				add(key+".secrets", err)
			}
		}
		for _, a := range e.Ignore.Actions {
			if !containsFold(notificationActions, a) {
				add(key+".ignore.actions", fmt.Errorf("%q is not one of %s", a, strings.Join(notificationActions, ", ")))
			}
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
