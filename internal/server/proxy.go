package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/proxy"
	"github.com/wharf-registry/wharf/internal/registry"
)

// newProxy builds the pull-through cache when the proxy section names an
// upstream, and hooks it into reg; nil otherwise.
func newProxy(cfg *config.Config, reg *registry.Registry, md meta.Store, promReg prometheus.Registerer, log *slog.Logger) (*proxy.Proxy, error) {
	if !cfg.Proxy.Enabled() {
		return nil, nil
	}
	ups, err := cfg.Proxy.Resolved()
	if err != nil {
		return nil, err
	}
	spool := filepath.Join(cfg.Storage.Filesystem.RootDirectory, "proxy-spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("proxy spool: %w", err)
	}
	opts := proxy.Options{
		Upstreams:     ups,
		ProbeInterval: cfg.Proxy.ProbeInterval,
		NegativeTTL:   cfg.Proxy.NegativeTTL,
		SpoolDir:      spool,
		MaxSize:       int64(cfg.Proxy.MaxSize),
		EvictInterval: cfg.Proxy.EvictInterval,
		Metrics:       proxy.NewMetrics(promReg),
		Log:           log.With("component", "proxy"),
	}
	if usage, ok := md.(meta.CacheUsage); ok {
		opts.Usage = usage
	}
	if leases, ok := md.(meta.FetchLeases); ok && cfg.Database != nil {
		// Several nodes share the stores: one of them fetches each blob.
		opts.Lock = &proxy.LeaseLocker{Leases: leases}
	}
	p, err := proxy.New(reg, opts)
	if err != nil {
		return nil, err
	}
	for _, u := range ups {
		log.Info("pull-through cache", "upstream", u.Name, "default", u.Default, "ttl", u.TTL)
	}
	return p, nil
}
