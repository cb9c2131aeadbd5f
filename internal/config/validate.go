package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// MaxInlineSize bounds storage.inline.maxsize: inline bytes are held in
// memory while they arrive and travel in every read of their row.
const MaxInlineSize = 1 << 20

// Validate checks the values that YAML types alone cannot: the version,
// the log level and format, the root directory, the listen address, the
// durations, the S3 settings and the auth, access and TLS setup. It is the
// one place a configuration is judged: `wharf config check` and `wharf
// serve` both call it, and serve then fails only on what needs I/O (a file
// that cannot be read, a bucket that cannot be reached). It reports every problem at once, each as a *FieldError naming
// the key, joined with errors.Join. An empty Version counts as "0.1".
func (c *Config) Validate() error {
	var errs []error
	add := func(key string, err error) {
		if err != nil {
			errs = append(errs, &FieldError{Key: key, Err: err})
		}
	}
	add("version", checkVersion(c.Version))
	add("log.level", checkLevel(c.Log.Level))
	add("log.formatter", checkFormatter(c.Log.Formatter))
	if c.Storage.Filesystem.RootDirectory == "" {
		add("storage.filesystem.rootdirectory", errors.New("must not be empty"))
	}
	add("http.addr", checkAddr(c.HTTP.Addr))
	if m := c.Storage.Inline.MaxSize; m < 0 || m > MaxInlineSize {
		add("storage.inline.maxsize", fmt.Errorf("must be between 0 and %d bytes", MaxInlineSize))
	}
	if up := c.Storage.Maintenance.UploadPurging; up.Enabled {
		add("storage.maintenance.uploadpurging.age", checkPositive(up.Age))
		add("storage.maintenance.uploadpurging.interval", checkPositive(up.Interval))
	}
	add("http.readheadertimeout", checkNonNegative(c.HTTP.ReadHeaderTimeout))
	add("http.idletimeout", checkNonNegative(c.HTTP.IdleTimeout))
	add("http.draintimeout", checkNonNegative(c.HTTP.DrainTimeout))
	if !c.GC.Disabled {
		add("gc.interval", checkPositive(c.GC.Interval))
	}
	add("gc.graceperiod", checkNonNegative(c.GC.GracePeriod))
	add("ui.sessionttl", checkNonNegative(c.UI.SessionTTL))
	if b := c.UI.BasePath; b != "" && (!strings.HasPrefix(b, "/") || strings.ContainsAny(b, "?#\"\\<> ")) {
		add("ui.basepath", fmt.Errorf("must be a path starting with /"))
	}
	for i, p := range c.GC.Retention {
		key := fmt.Sprintf("gc.retention[%d]", i)
		add(key+".repositories", checkRetentionPattern(p.Repositories))
		if p.KeepLast < 0 {
			add(key+".keeplast", errors.New("must not be negative"))
		}
		add(key+".keepwithin", checkNonNegative(p.KeepWithin))
		if p.KeepLast == 0 && p.KeepWithin == 0 && len(p.KeepTags) == 0 {
			// A policy that keeps nothing would delete every tag: far more
			// likely a typo than a wish.
			add(key, errors.New("keeps no tag: set keeplast, keepwithin or keeptags"))
		}
	}
	c.validateS3(add)
	c.validateCloud(add)
	c.validateSecurity(add)
	c.validateHonoured(add)
	c.validateHealth(add)
	c.validateNotifications(add)
	for _, list := range []struct {
		key   string
		exprs []string
	}{
		{"validation.manifests.urls.allow", c.Validation.Manifests.URLs.Allow},
		{"validation.manifests.urls.deny", c.Validation.Manifests.URLs.Deny},
	} {
		for _, e := range list.exprs {
			if _, err := regexp.Compile(e); err != nil {
				add(list.key, err)
			}
		}
	}
	switch c.Validation.Manifests.Sparse {
	case SparseNone, SparseIndexes, SparseAll:
	default:
		add("validation.manifests.sparse", fmt.Errorf("%q is not one of none, indexes, all", c.Validation.Manifests.Sparse))
	}
	c.validateIndexes(add)
	c.validateProxy(add)
	return errors.Join(errs...)
}

func checkRetentionPattern(p string) error {
	if p == "" {
		return errors.New("must not be empty (use \"*\" for every repository)")
	}
	return nil
}

func checkVersion(v string) error {
	if v == "" || v == SupportedVersion {
		return nil
	}
	return fmt.Errorf("unsupported version %q; wharf reads version %s", v, SupportedVersion)
}

func checkLevel(level string) error {
	_, err := ParseLevel(level)
	return err
}

// ParseLevel maps a log.level value to a slog level. Like distribution it
// ignores case; it accepts debug, info, warn, warning and error.
func ParseLevel(level string) (slog.Level, error) {
	switch strings.ToLower(level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q; want debug, info, warn or error", level)
}

func checkFormatter(f string) error {
	switch f {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("unknown log formatter %q; want text or json", f)
}

func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("want host:port or :port: %w", err)
	}
	return nil
}

func checkPositive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("must be greater than zero when upload purging is enabled, got %s", d)
	}
	return nil
}

func checkNonNegative(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("must not be negative, got %s", d)
	}
	return nil
}

// validateHealth checks each health check names what it checks.
func (c *Config) validateHealth(add func(key string, err error)) {
	h := c.Health
	add("health.storagedriver.interval", checkNonNegative(h.StorageDriver.Interval))
	for i, f := range h.File {
		if f.File == "" {
			add(fmt.Sprintf("health.file[%d].file", i), errors.New("must be set"))
		}
	}
	for i, x := range h.HTTP {
		if u, err := url.Parse(x.URI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(fmt.Sprintf("health.http[%d].uri", i), fmt.Errorf("%q is not an http or https URL", x.URI))
		}
	}
	for i, x := range h.TCP {
		add(fmt.Sprintf("health.tcp[%d].addr", i), checkAddr(x.Addr))
	}
}

// Values of validation.manifests.sparse.
const (
	SparseNone    = "none"
	SparseIndexes = "indexes"
	SparseAll     = "all"
)

// validateIndexes checks distribution's validation.manifests.indexes
// against wharf's sparse policy, whose index half it sets.
func (c *Config) validateIndexes(add func(key string, err error)) {
	m := c.Validation.Manifests
	const key = "validation.manifests.indexes.platforms"
	switch strings.ToLower(m.Indexes.Platforms) {
	case "":
	case "all":
		if m.Sparse == SparseAll {
			add(key, errors.New("all (every child required) contradicts validation.manifests.sparse: all"))
		}
	case "none", "list":
		if m.Sparse == SparseNone {
			add(key, fmt.Errorf("%s (children may be absent) contradicts validation.manifests.sparse: none", m.Indexes.Platforms))
		}
	default:
		add(key, fmt.Errorf("%q is not one of all, none, list", m.Indexes.Platforms))
	}
	list := strings.EqualFold(m.Indexes.Platforms, "list")
	if list && len(m.Indexes.PlatformList) == 0 {
		add("validation.manifests.indexes.platformlist", errors.New("must name at least one platform with platforms: list"))
	}
	if !list && len(m.Indexes.PlatformList) > 0 {
		add("validation.manifests.indexes.platformlist", errors.New("is only read with platforms: list"))
	}
	for i, p := range m.Indexes.PlatformList {
		if p.OS == "" || p.Architecture == "" {
			add(fmt.Sprintf("validation.manifests.indexes.platformlist[%d]", i), errors.New("needs os and architecture"))
		}
	}
}
