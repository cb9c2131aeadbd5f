// Package config loads wharf's configuration: distribution-compatible YAML
// (version 0.1), REGISTRY_* environment overrides, embedded defaults and
// validation.
package config

import (
	"crypto/tls"
	"time"
)

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
	// Validation is distribution's section; of it wharf reads its own
	// key manifests.sparse.
	Validation Validation `yaml:"validation"`
	// Health is distribution's periodic health checks.
	Health Health `yaml:"health"`
	// UI is wharf's own section: the web UI served at / on the
	// registry's port.
	UI UI `yaml:"ui"`
	// Notifications is distribution's webhooks section, with wharf's
	// additions (delivery limits, signatures, formats, the event log's
	// retention) under keys distribution does not use.
	Notifications Notifications `yaml:"notifications"`
	// Proxy is the pull-through cache: distribution's single remoteurl,
	// or wharf's list of upstreams beside hosted repositories.
	Proxy Proxy `yaml:"proxy"`

	// keys is what Keys returns, filled in by Parse.
	keys []KeyVerdict
}

// Validation configures what a pushed manifest must satisfy.
type Validation struct {
	// Disabled turns off the URL checks below (distribution's meaning:
	// "disables the other options in this section").
	Disabled  bool               `yaml:"disabled"`
	Manifests ManifestValidation `yaml:"manifests"`
}

// ManifestURLs is which URLs the layers of a pushed manifest may name
// (foreign and non-distributable layers): with Allow unset, none; else
// those matching an Allow expression and no Deny expression.
type ManifestURLs struct {
	Allow []string `yaml:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty"`
}

// ManifestValidation configures the checks on pushed manifests.
type ManifestValidation struct {
	URLs ManifestURLs `yaml:"urls"`
	// Sparse (wharf's own) says which references a pushed manifest may
	// leave unsatisfied: "indexes" (the default) lets an index list
	// children the repository does not hold (an index mirrored for one
	// platform); "all" also lets an image reference blobs it does not hold,
	// as the spec allows; "none" refuses both with MANIFEST_BLOB_UNKNOWN.
	// Content that is present is checked against its descriptor always.
	Sparse string `yaml:"sparse"`
	// Indexes is distribution v3's rule for an index's children, which
	// wharf reads as the index half of Sparse: "all" requires every child,
	// "none" none, "list" those of PlatformList's platforms.
	Indexes IndexValidation `yaml:"indexes"`
}

// IndexValidation is distribution's validation.manifests.indexes.
type IndexValidation struct {
	Platforms    string     `yaml:"platforms"`
	PlatformList []Platform `yaml:"platformlist,omitempty"`
}

// Platform names an image platform in an index.
type Platform struct {
	Architecture string `yaml:"architecture"`
	OS           string `yaml:"os"`
}

// Health configures periodic checks whose results /debug/health serves on
// the debug listener; while one fails, every request is answered 503.
type Health struct {
	StorageDriver StorageDriverCheck `yaml:"storagedriver"`
	File          []FileCheck        `yaml:"file,omitempty"`
	HTTP          []HTTPCheck        `yaml:"http,omitempty"`
	TCP           []TCPCheck         `yaml:"tcp,omitempty"`
}

// StorageDriverCheck checks that the blob store and the metadata database
// answer.
type StorageDriverCheck struct {
	Enabled   bool          `yaml:"enabled"`
	Interval  time.Duration `yaml:"interval"`
	Threshold int           `yaml:"threshold"`
}

// FileCheck fails while File exists.
type FileCheck struct {
	File     string        `yaml:"file"`
	Interval time.Duration `yaml:"interval"`
}

// HTTPCheck fails unless a GET of URI answers StatusCode (200 when 0).
type HTTPCheck struct {
	URI        string              `yaml:"uri"`
	Headers    map[string][]string `yaml:"headers,omitempty"`
	StatusCode int                 `yaml:"statuscode"`
	Timeout    time.Duration       `yaml:"timeout"`
	Interval   time.Duration       `yaml:"interval"`
	Threshold  int                 `yaml:"threshold"`
}

// TCPCheck fails unless a connection to Addr opens within Timeout.
type TCPCheck struct {
	Addr      string        `yaml:"addr"`
	Timeout   time.Duration `yaml:"timeout"`
	Interval  time.Duration `yaml:"interval"`
	Threshold int           `yaml:"threshold"`
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
	Azure       *Azure      `yaml:"azure"`
	GCS         *GCS        `yaml:"gcs"`
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
	// Headers are added to every response, e.g.
	// X-Content-Type-Options: [nosniff].
	Headers map[string][]string `yaml:"headers,omitempty"`
	// HTTP2 and H2C switch HTTP/2 over TLS off and cleartext HTTP/2 on.
	HTTP2 HTTP2 `yaml:"http2"`
	H2C   H2C   `yaml:"h2c"`
	// wharf additions: server timeouts.
	ReadHeaderTimeout time.Duration `yaml:"readheadertimeout"`
	IdleTimeout       time.Duration `yaml:"idletimeout"`
	DrainTimeout      time.Duration `yaml:"draintimeout"`
}

// HTTP2 controls HTTP/2 over TLS, on by default.
type HTTP2 struct {
	Disabled bool `yaml:"disabled"`
}

// H2C controls HTTP/2 over cleartext connections (for load balancers that
// speak it to their backends), off by default.
type H2C struct {
	Enabled bool `yaml:"enabled"`
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

// Azure is Azure Blob Storage for blobs, with distribution's keys.
type Azure struct {
	AccountName string `yaml:"accountname"`
	AccountKey  string `yaml:"accountkey"`
	Container   string `yaml:"container"`
	// Realm is the endpoint suffix (default core.windows.net), used when
	// ServiceURL is empty.
	Realm         string `yaml:"realm"`
	ServiceURL    string `yaml:"serviceurl"`
	RootDirectory string `yaml:"rootdirectory"`
	// Credentials picks shared_key, client_secret or default_credentials,
	// as distribution v3 does; unset means the account key.
	Credentials AzureCredentials `yaml:"credentials"`
}

// AzureCredentials is storage.azure.credentials.
type AzureCredentials struct {
	Type     string `yaml:"type"`
	ClientID string `yaml:"clientid"`
	TenantID string `yaml:"tenantid"`
	Secret   string `yaml:"secret"`
}

// GCS is Google Cloud Storage for blobs, with distribution's keys. Without
// keyfile or credentials, Application Default Credentials apply.
type GCS struct {
	Bucket  string `yaml:"bucket"`
	KeyFile string `yaml:"keyfile"`
	// Credentials is a service account key inlined as YAML (the fields of
	// its JSON file), instead of KeyFile.
	Credentials   map[string]string `yaml:"credentials"`
	RootDirectory string            `yaml:"rootdirectory"`
	// ChunkSize is the size of the parts uploads are stored in, a multiple
	// of 256 KiB (default 5 MiB).
	ChunkSize int64 `yaml:"chunksize"`
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
	// ClientAuth is how client certificates are checked when ClientCAs is
	// set; distribution's names, require-and-verify-client-cert by default.
	ClientAuth string `yaml:"clientauth,omitempty"`
	// CipherSuites limits TLS 1.2's cipher suites, by Go's (IANA) names;
	// empty: Go's defaults. TLS 1.3's suites are not configurable.
	CipherSuites []string `yaml:"ciphersuites,omitempty"`
	// LetsEncrypt gets certificates from an ACME CA instead of the
	// certificate and key files.
	LetsEncrypt *LetsEncrypt `yaml:"letsencrypt"`
}

// clientAuthMode maps a value of http.tls.clientauth to Go's mode.
func clientAuthMode(name string) (tls.ClientAuthType, bool) {
	switch name {
	case "request-client-cert":
		return tls.RequestClientCert, true
	case "require-any-client-cert":
		return tls.RequireAnyClientCert, true
	case "verify-client-cert-if-given":
		return tls.VerifyClientCertIfGiven, true
	case "require-and-verify-client-cert", "":
		return tls.RequireAndVerifyClientCert, true
	}
	return 0, false
}

// ClientAuthMode is Go's form of http.tls.clientauth (validated).
func (t TLS) ClientAuthMode() tls.ClientAuthType {
	m, _ := clientAuthMode(t.ClientAuth)
	return m
}

// CipherSuiteIDs is Go's form of http.tls.ciphersuites (validated); nil
// for Go's defaults.
func (t TLS) CipherSuiteIDs() []uint16 {
	var ids []uint16
	for _, name := range t.CipherSuites {
		for _, cs := range tls.CipherSuites() {
			if cs.Name == name {
				ids = append(ids, cs.ID)
			}
		}
	}
	return ids
}

// LetsEncrypt is distribution's http.tls.letsencrypt: certificates for
// Hosts from an ACME CA (Let's Encrypt unless DirectoryURL says otherwise),
// proven with the TLS-ALPN-01 challenge on the registry's own listener, as
// distribution does, so the CA must reach http.addr on port 443.
type LetsEncrypt struct {
	// CacheFile is a directory despite its name, as in distribution 3:
	// the account key and certificates are kept there across restarts.
	CacheFile    string   `yaml:"cachefile"`
	Email        string   `yaml:"email"`
	Hosts        []string `yaml:"hosts"`
	DirectoryURL string   `yaml:"directoryurl"`
	// HTTPAddr (a wharf addition) also answers the HTTP-01 challenge on
	// this address, which the CA reaches on port 80; other requests there
	// are redirected to https. Distribution has no HTTP-01 listener.
	HTTPAddr string `yaml:"httpaddr"`
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

// UI configures the web UI.
type UI struct {
	// Disabled turns the UI off: / then answers as any unknown path.
	Disabled bool `yaml:"disabled"`
	// BasePath is the path prefix a reverse proxy serves the UI under
	// (it strips it before passing requests on); links carry it.
	BasePath string `yaml:"basepath"`
	// SessionTTL is how long a login lasts (12h when unset).
	SessionTTL time.Duration `yaml:"sessionttl"`
}

// Notifications configures webhooks: distribution's keys, delivered by
// wharf from a durable outbox in the metadata database.
type Notifications struct {
	Events    NotificationEvents `yaml:"events"`
	Endpoints []Endpoint         `yaml:"endpoints,omitempty"`
	// Retention (wharf's own) is how long the event log, which doubles as
	// the audit trail of pushes and deletions, keeps an event once every
	// endpoint is done with it.
	Retention time.Duration `yaml:"retention"`
}

// NotificationEvents is distribution's notifications.events.
type NotificationEvents struct {
	// IncludeReferences adds a manifest's references (config, layers,
	// children) to its push events.
	IncludeReferences bool `yaml:"includereferences"`
}

// Endpoint is one receiver of notifications. Name, Disabled, URL, Headers,
// Timeout, Threshold, Backoff, IgnoredMediaTypes and Ignore are
// distribution's; the rest are wharf's additions.
type Endpoint struct {
	Name     string `yaml:"name"`
	Disabled bool   `yaml:"disabled"`
	URL      string `yaml:"url"`
	// Headers are sent with every request (Authorization, say): masked
	// when the configuration is printed and never logged.
	Headers map[string][]string `yaml:"headers,omitempty"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// Threshold is how many failures in a row make the endpoint pause for
	// the current backoff before anything else is tried.
	Threshold int `yaml:"threshold"`
	// Backoff is the first retry delay; each further failure doubles it,
	// up to MaxBackoff.
	Backoff           time.Duration  `yaml:"backoff"`
	IgnoredMediaTypes []string       `yaml:"ignoredmediatypes,omitempty"`
	Ignore            EndpointIgnore `yaml:"ignore"`

	// MaxBackoff bounds the retry delay (wharf).
	MaxBackoff time.Duration `yaml:"maxbackoff"`
	// MaxAge is how long an event is retried before it is dead-lettered
	// (wharf); 0: forever.
	MaxAge time.Duration `yaml:"maxage"`
	// MaxAttempts is how many attempts an event gets before it is
	// dead-lettered (wharf); 0: no limit.
	MaxAttempts int `yaml:"maxattempts"`
	// Secrets sign each request per Standard Webhooks (webhook-id,
	// webhook-timestamp, webhook-signature); several let keys rotate
	// (wharf). Each is "whsec_" followed by base64.
	Secrets []string `yaml:"secrets,omitempty"`
	// Format is the body: "v1" (distribution's events.v1+json, the
	// default), "v2" (events.v2+json) or "cloudevents" (CloudEvents 1.0
	// structured, one event per request) (wharf).
	Format string `yaml:"format"`
	// SkipHeadPulls leaves out the pull events of HEAD requests, which
	// every push makes (wharf).
	SkipHeadPulls bool `yaml:"skipheadpulls"`
}

// EndpointIgnore is distribution's notifications.endpoints[].ignore.
type EndpointIgnore struct {
	MediaTypes []string `yaml:"mediatypes,omitempty"`
	Actions    []string `yaml:"actions,omitempty"`
}
