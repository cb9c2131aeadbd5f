// Package config loads wharf's configuration: distribution-compatible YAML
// (version 0.1), REGISTRY_* environment overrides, embedded defaults and
// validation.
package config

import "time"

// Config is the whole configuration. Keys follow distribution's config.yml so
// an existing file works unchanged; wharf's own additions live under keys
// distribution does not use.
type Config struct {
	Version string  `yaml:"version"`
	Log     Log     `yaml:"log"`
	Storage Storage `yaml:"storage"`
	HTTP    HTTP    `yaml:"http"`
	// Database is wharf's own section: PostgreSQL metadata for running
	// several nodes. Unset, metadata lives in SQLite under the root
	// directory.
	Database *Database `yaml:"database"`
	// GC is wharf's own section: online garbage collection and retention.
	GC GC `yaml:"gc"`
}

// GC configures the online garbage collector, which runs inside
// `wharf serve`, and the defaults of `wharf garbage-collect`.
type GC struct {
	Disabled bool          `yaml:"disabled"`
	Interval time.Duration `yaml:"interval"`
	// GracePeriod protects content that was pushed but is not referenced
	// yet (layers whose manifest has not arrived). Content whose last
	// reference was deleted goes on the next pass.
	GracePeriod    time.Duration `yaml:"graceperiod"`
	DeleteUntagged bool          `yaml:"deleteuntagged"`
	// KeepReferrers keeps signatures, SBOMs and other referrers when the
	// manifest they refer to is deleted.
	KeepReferrers bool              `yaml:"keepreferrers"`
	Retention     []RetentionPolicy `yaml:"retention"`
}

// RetentionPolicy keeps some tags of the repositories matching
// Repositories and deletes the rest; a tag survives if any Keep rule keeps
// it. The first policy matching a repository applies.
type RetentionPolicy struct {
	// Repositories is a glob over repository names; * matches any run of
	// characters, slashes included.
	Repositories string        `yaml:"repositories"`
	KeepLast     int           `yaml:"keeplast"`
	KeepWithin   time.Duration `yaml:"keepwithin"`
	KeepTags     []string      `yaml:"keeptags"`
}

// Log configures log/slog.
type Log struct {
	Level     string            `yaml:"level"`     // debug, info, warn, error
	Formatter string            `yaml:"formatter"` // text or json
	Fields    map[string]string `yaml:"fields"`    // added to every log line
	AccessLog AccessLog         `yaml:"accesslog"`
}

// AccessLog switches the per-request log line.
type AccessLog struct {
	Disabled bool `yaml:"disabled"`
}

// Storage configures where blobs and metadata live.
type Storage struct {
	Filesystem  Filesystem  `yaml:"filesystem"`
	S3          *S3         `yaml:"s3"`
	Delete      Delete      `yaml:"delete"`
	Maintenance Maintenance `yaml:"maintenance"`
	Cache       Cache       `yaml:"cache"`
	Redirect    Redirect    `yaml:"redirect"`
}

// Filesystem is the local-disk blob store; metadata (SQLite) lives under the
// same root directory by default.
type Filesystem struct {
	RootDirectory string `yaml:"rootdirectory"`
}

// Delete enables the DELETE endpoints.
type Delete struct {
	Enabled bool `yaml:"enabled"`
}

// Maintenance holds upload purging and read-only mode.
type Maintenance struct {
	UploadPurging UploadPurging `yaml:"uploadpurging"`
	ReadOnly      ReadOnly      `yaml:"readonly"`
}

// UploadPurging removes upload sessions older than Age every Interval.
type UploadPurging struct {
	Enabled  bool          `yaml:"enabled"`
	Age      time.Duration `yaml:"age"`
	Interval time.Duration `yaml:"interval"`
	DryRun   bool          `yaml:"dryrun"`
}

// ReadOnly refuses every write when Enabled.
type ReadOnly struct {
	Enabled bool `yaml:"enabled"`
}

// Cache is accepted for compatibility (storage.cache.layerinfo); wharf's
// metadata store already answers blob lookups.
type Cache struct {
	LayerInfo      string `yaml:"layerinfo"`
	BlobDescriptor string `yaml:"blobdescriptor"`
}

// Redirect controls presigned redirects for object-store backends.
type Redirect struct {
	Disable bool `yaml:"disable"`
}

// HTTP configures the listener.
type HTTP struct {
	Addr   string `yaml:"addr"`
	Prefix string `yaml:"prefix"`
	Host   string `yaml:"host"`
	Secret string `yaml:"secret"`
	Debug  Debug  `yaml:"debug"`
	// wharf additions: server timeouts.
	ReadHeaderTimeout time.Duration `yaml:"readheadertimeout"`
	IdleTimeout       time.Duration `yaml:"idletimeout"`
	DrainTimeout      time.Duration `yaml:"draintimeout"`
}

// Debug is distribution's debug listener: Prometheus metrics and pprof,
// on an address of its own (keep it on loopback or a private network).
type Debug struct {
	Addr       string     `yaml:"addr"`
	Prometheus Prometheus `yaml:"prometheus"`
}

// Prometheus enables the metrics endpoint on the debug listener.
type Prometheus struct {
	Enabled bool   `yaml:"enabled"`
	Path    string `yaml:"path"`
}

// S3 is an S3-compatible object store for blobs, with distribution's keys.
// Credentials fall back to the usual AWS environment variables when
// accesskey and secretkey are empty.
type S3 struct {
	AccessKey      string `yaml:"accesskey"`
	SecretKey      string `yaml:"secretkey"`
	Region         string `yaml:"region"`
	RegionEndpoint string `yaml:"regionendpoint"`
	Bucket         string `yaml:"bucket"`
	RootDirectory  string `yaml:"rootdirectory"`
	Secure         *bool  `yaml:"secure"` // default true
	SkipVerify     bool   `yaml:"skipverify"`
	ForcePathStyle bool   `yaml:"forcepathstyle"`
	ChunkSize      int64  `yaml:"chunksize"` // multipart part size; at least 5 MiB
	StorageClass   string `yaml:"storageclass"`
}

// Database is the PostgreSQL metadata store. DSN, when set, wins over the
// individual fields.
type Database struct {
	DSN      string `yaml:"dsn"`
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	DBName   string `yaml:"dbname"`
	SSLMode  string `yaml:"sslmode"`
	// MaxConns bounds the connection pool (default 16).
	MaxConns int `yaml:"maxconns"`
}
