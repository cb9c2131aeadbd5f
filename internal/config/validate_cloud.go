package config

import (
	"errors"
	"fmt"
	"net/url"
)

// GCSChunkUnit is the unit storage.gcs.chunksize must be a multiple of.
const GCSChunkUnit = 256 << 10

// validateCloud checks storage.azure and storage.gcs without reaching the
// service, and that at most one object store is configured.
func (c *Config) validateCloud(add func(key string, err error)) {
	n := 0
	for _, set := range []bool{c.Storage.S3 != nil, c.Storage.Azure != nil, c.Storage.GCS != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		add("storage", errors.New("configure one of storage.s3, storage.azure and storage.gcs, not several"))
	}
	if a := c.Storage.Azure; a != nil {
		validateAzure(a, add)
	}
	if g := c.Storage.GCS; g != nil {
		if g.Bucket == "" {
			add("storage.gcs.bucket", errors.New("must be set"))
		}
		if g.KeyFile != "" && len(g.Credentials) > 0 {
			add("storage.gcs.keyfile", errors.New("set keyfile or credentials, not both"))
		}
		if g.ChunkSize < 0 || g.ChunkSize%GCSChunkUnit != 0 {
			add("storage.gcs.chunksize", fmt.Errorf("%d must be a positive multiple of %d (256 KiB)", g.ChunkSize, GCSChunkUnit))
		}
	}
}

func validateAzure(a *Azure, add func(key string, err error)) {
	if a.Container == "" {
		add("storage.azure.container", errors.New("must be set"))
	}
	if a.AccountName == "" && a.ServiceURL == "" {
		add("storage.azure.accountname", errors.New("accountname or serviceurl must be set"))
	}
	if a.ServiceURL != "" {
		u, err := url.Parse(a.ServiceURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("storage.azure.serviceurl", fmt.Errorf("%q is not an http(s) URL", a.ServiceURL))
		}
	}
	cr := a.Credentials
	switch cr.Type {
	case "":
	case "shared_key":
		if a.AccountName == "" || a.AccountKey == "" {
			add("storage.azure.accountkey", errors.New("shared_key credentials need accountname and accountkey"))
		}
	case "client_secret":
		if cr.TenantID == "" || cr.ClientID == "" || cr.Secret == "" {
			add("storage.azure.credentials", errors.New("client_secret needs tenantid, clientid and secret"))
		}
	case "default_credentials":
	default:
		add("storage.azure.credentials.type", fmt.Errorf("%q is not shared_key, client_secret or default_credentials", cr.Type))
	}
}
