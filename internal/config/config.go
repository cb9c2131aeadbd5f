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
	Auth    Auth    `yaml:"auth"`
	// Access is wharf's own section: users, groups and who may pull, push
	// and delete where. Without it, every authenticated user may do
	// everything, as with distribution's htpasswd.
	Access *Access `yaml:"access"`
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
	// Inline is wharf's own: small blobs kept in the metadata store.
	Inline Inline `yaml:"inline"`
	// Reserve is wharf's own: disk space under the root directory kept
	// for metadata writes, so deletes and garbage collection work on a
	// full disk. Below it new uploads are refused (507). Unset: 64 MiB,
	// or a tenth of the filesystem if that is less; 0 turns it off.
	Reserve *Size `yaml:"reserve"`
}

// Inline keeps blobs of at most MaxSize bytes (image configs, small layers,
// signatures) in the metadata store instead of the blob store: pushing
// them creates no file or object, and they are served from the database.
// 0 keeps every blob in the blob store.
type Inline struct {
	MaxSize int64 `yaml:"maxsize"`
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
	TLS    TLS    `yaml:"tls"`
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

// TLS serves HTTPS (and HTTP/2) with a certificate, optionally requiring
// client certificates signed by ClientCAs.
type TLS struct {
	Certificate string   `yaml:"certificate"`
	Key         string   `yaml:"key"`
	ClientCAs   []string `yaml:"clientcas"`
	// MinimumTLS is tls1.2 (default) or tls1.3.
	MinimumTLS string `yaml:"minimumtls"`
}

// Auth selects how clients log in: htpasswd (basic auth, or with
// TokenServer the users of wharf's own token server), or an external
// token server (Token).
type Auth struct {
	Htpasswd    *Htpasswd    `yaml:"htpasswd"`
	Token       *TokenAuth   `yaml:"token"`
	TokenServer *TokenServer `yaml:"tokenserver"`
}

// Htpasswd is distribution's htpasswd auth: bcrypt entries as written by
// `htpasswd -B` or `wharf htpasswd`.
type Htpasswd struct {
	Realm string `yaml:"realm"`
	Path  string `yaml:"path"`
}

// TokenAuth trusts tokens from an external token server (docker_auth,
// Harbor, GitLab), as distribution's auth.token does.
type TokenAuth struct {
	Realm          string `yaml:"realm"`
	Service        string `yaml:"service"`
	Issuer         string `yaml:"issuer"`
	RootCertBundle string `yaml:"rootcertbundle"`
	JWKS           string `yaml:"jwks"`
}

// TokenServer is wharf's built-in token server (Docker's token
// authentication), authenticating the users of auth.htpasswd.
type TokenServer struct {
	Enabled bool `yaml:"enabled"`
	// Realm is the token endpoint's URL announced to clients; empty: the
	// request's own scheme and host with /auth/token.
	Realm             string        `yaml:"realm"`
	Service           string        `yaml:"service"`
	Issuer            string        `yaml:"issuer"`
	Expiration        time.Duration `yaml:"expiration"`
	RefreshExpiration time.Duration `yaml:"refreshexpiration"`
	// SigningKey is a PEM private key (EC or RSA); empty: one generated
	// once and kept under the root directory with mode 0600.
	SigningKey string `yaml:"signingkey"`
}

// Access is the access policy: admins may do everything; each user owns
// <username>/... unless UserNamespaces is false; Public repositories are
// pullable by anyone; Rules grant actions on repository globs to users
// and groups.
type Access struct {
	Admins         []string            `yaml:"admins"`
	Groups         map[string][]string `yaml:"groups"`
	Public         []string            `yaml:"public"`
	UserNamespaces *bool               `yaml:"usernamespaces"`
	Rules          []AccessRule        `yaml:"rules"`
}

// AccessRule grants Actions (pull, push, delete, or *) on repositories
// matching Repositories (a glob, * matching any run of characters) to the
// listed users and groups.
type AccessRule struct {
	Repositories string   `yaml:"repositories"`
	Users        []string `yaml:"users"`
	Groups       []string `yaml:"groups"`
	Actions      []string `yaml:"actions"`
}
