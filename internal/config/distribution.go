package config

// notImplemented reports whether path (a dotted key) is part of
// distribution's configuration but not acted on by wharf yet. Such a key is
// skipped with a warning instead of an "unknown key" warning, so that a user
// migrating a working config.yml learns which features are missing rather
// than suspecting a typo.
//
// Only distribution's keys live here; wharf's own keys come from the yaml
// tags of Config, so adding a field to Config needs no change here (a key
// listed here that Config gains is simply never looked up again).
func notImplemented(path string) bool {
	switch path {
	case
		// Top-level sections.
		"loglevel", // deprecated in distribution in favour of log.level
		"middleware",
		"reporting",
		"notifications",
		"redis",
		"health",
		"proxy",
		"validation.enabled",
		"validation.disabled",
		"validation.manifests.urls",
		"validation.manifests.indexes",
		"compatibility",
		"policy",
		"catalog",
		// log
		"log.hooks",
		"log.reportcaller",
		// storage drivers other than filesystem, and driver options
		"storage.inmemory",
		"storage.azure",
		"storage.gcs",
		"storage.swift",
		"storage.oss",
		"storage.filesystem.maxthreads",
		"storage.cache.blobdescriptorsize",
		"storage.tag",
		// http
		"http.net",
		"http.relativeurls",
		"http.headers",
		"http.http2",
		"http.h2c":
		return true
	}
	return false
}
