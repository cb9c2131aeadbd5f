package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// S3's limits on the parts of a multipart upload, which storage.s3.chunksize
// sets: every part but the last is at least 5 MiB, none above 5 GiB.
const (
	S3MinChunkSize = 5 << 20
	S3MaxChunkSize = 5 << 30
)

// validateS3 checks storage.s3 without reaching the bucket: what is missing
// or malformed is refused here, so `wharf config check` and `wharf serve`
// agree on it.
func (c *Config) validateS3(add func(key string, err error)) {
	s := c.Storage.S3
	if s == nil {
		return
	}
	if s.Bucket == "" {
		add("storage.s3.bucket", errors.New("must be set"))
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		add("storage.s3.accesskey", errors.New("accesskey and secretkey go together (leave both empty to use "+
			"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared credentials file or an instance role)"))
	}
	if s.ChunkSize != 0 && (s.ChunkSize < S3MinChunkSize || s.ChunkSize > S3MaxChunkSize) {
		add("storage.s3.chunksize", fmt.Errorf("%d must be between %d (5 MiB) and %d (5 GiB)",
			s.ChunkSize, S3MinChunkSize, int64(S3MaxChunkSize)))
	}
	if _, _, err := s.Endpoint(); err != nil {
		add("storage.s3.regionendpoint", err)
	}
}

// Endpoint reads regionendpoint: the S3 API's URL (http://minio:9000) or
// host[:port]; empty means AWS. It returns the host and whether to use
// HTTPS: the URL's scheme decides, HTTPS without one, and secure, when set,
// overrides both.
func (s *S3) Endpoint() (host string, secure bool, err error) {
	secure = true
	ep := strings.TrimSpace(s.RegionEndpoint)
	switch {
	case ep == "":
	case strings.Contains(ep, "://"):
		u, err := url.Parse(ep)
		if err != nil {
			return "", false, fmt.Errorf("%q: %w", ep, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
			secure = false
		case "https":
		default:
			return "", false, fmt.Errorf("%q: scheme must be http or https", ep)
		}
		if u.Host == "" {
			return "", false, fmt.Errorf("%q has no host", ep)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return "", false, fmt.Errorf("%q: S3 endpoints take no path or query", ep)
		}
		host = u.Host
	default:
		if strings.Contains(strings.TrimSuffix(ep, "/"), "/") {
			return "", false, fmt.Errorf("%q: S3 endpoints take no path", ep)
		}
		host = strings.TrimSuffix(ep, "/")
	}
	if s.Secure != nil {
		secure = *s.Secure
	}
	return host, secure, nil
}
