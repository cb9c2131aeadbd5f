package config

import "time"

// SupportedVersion is the only configuration format version wharf reads,
// the same one distribution's config.yml declares.
const SupportedVersion = "0.1"

// Default returns wharf's embedded defaults: what `wharf serve` runs with
// when no file and no REGISTRY_* variable says otherwise. Each call returns
// a fresh value, so callers may modify it.
func Default() *Config {
	return &Config{
		Version: SupportedVersion,
		Log: Log{
			Level:     "info",
			Formatter: "text",
		},
		Storage: Storage{
			Filesystem: Filesystem{RootDirectory: "./data"},
			Inline:     Inline{MaxSize: 16 << 10},
			// Deleting is opt-in, as in distribution: a registry that
			// silently loses images is worse than one that refuses.
			Delete: Delete{Enabled: false},
			Maintenance: Maintenance{
				UploadPurging: UploadPurging{
					Enabled:  true,
					Age:      168 * time.Hour,
					Interval: 24 * time.Hour,
					DryRun:   false,
				},
			},
		},
		GC: GC{
			Interval:    time.Hour,
			GracePeriod: 24 * time.Hour,
		},
		// Sparse indexes are what mirrors of one platform produce; an image
		// whose layers are missing cannot be pulled, so it is refused
		// unless asked for.
		Validation: Validation{Manifests: ManifestValidation{Sparse: SparseIndexes}},
		// A week of events: the audit trail of who pushed and deleted
		// what, and what each endpoint received.
		Notifications: Notifications{Retention: 168 * time.Hour},
		HTTP: HTTP{
			Addr:              ":5000",
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			DrainTimeout:      25 * time.Second,
		},
	}
}
