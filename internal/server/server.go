// Package server builds a running wharf from a configuration: the stores,
// the registry, the HTTP API, an http.Server with timeouts, background
// maintenance, and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"regexp"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharf-registry/wharf/internal/api"
	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/gc"
	"github.com/wharf-registry/wharf/internal/health"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/metrics"
	"github.com/wharf-registry/wharf/internal/middleware"
	"github.com/wharf-registry/wharf/internal/notify"
	"github.com/wharf-registry/wharf/internal/proxy"
	"github.com/wharf-registry/wharf/internal/registry"
	"github.com/wharf-registry/wharf/internal/ui"
	v1 "github.com/wharf-registry/wharf/internal/v1"
)

// Server is a configured wharf, ready to serve.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	meta    meta.Store
	reg     *registry.Registry
	http    *http.Server
	gc      *gc.Collector
	metrics *metrics.Metrics
	health  *health.Checker
	debug   *http.Server // nil unless http.debug.addr is set
	// notify delivers webhooks; nil without an enabled endpoint.
	notify *notify.Notifier
	// acmeHTTP answers HTTP-01 challenges; nil unless
	// http.tls.letsencrypt.httpaddr is set.
	acmeHTTP *http.Server
	// mirror is the pull-through cache; nil without proxy upstreams.
	mirror *proxy.Proxy
}

// debugServer serves Prometheus metrics (when enabled) and pprof on
// http.debug.addr, apart from the registry's own listener.
func debugServer(cfg config.Debug, reg *prometheus.Registry, checks *health.Checker) *http.Server {
	if cfg.Addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/health", checks.Handler())
	mux.Handle("/debug/live", health.Live())
	if cfg.Prometheus.Enabled {
		path := cfg.Prometheus.Path
		if path == "" {
			path = "/metrics"
		}
		mux.Handle(path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Addr: cfg.Addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// GCOptions are the garbage collector's options from cfg.
func GCOptions(cfg *config.Config) gc.Options {
	opts := gc.Options{
		GracePeriod:    cfg.GC.GracePeriod,
		DeleteUntagged: cfg.GC.DeleteUntagged,
		KeepReferrers:  cfg.GC.KeepReferrers,
	}
	for _, p := range cfg.GC.Retention {
		opts.Retention = append(opts.Retention, gc.Policy{
			Repositories: p.Repositories, KeepLast: p.KeepLast, KeepWithin: p.KeepWithin, KeepTags: p.KeepTags,
		})
	}
	return opts
}

// New opens the stores named by cfg and builds the HTTP server.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	// Configurations from config.Load are valid already; one built in code
	// is judged by the same rules.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	blobs, md, space, err := openStores(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	prepareSpace(space, log)
	if err := autoImport(ctx, cfg, blobs, md, log); err != nil {
		md.Close()
		return nil, err
	}
	promReg := prometheus.NewRegistry()
	m := metrics.New(promReg)
	reg := registry.New(blobs, md, registry.Options{
		DeleteEnabled:     cfg.Storage.Delete.Enabled,
		ReadOnly:          cfg.Storage.Maintenance.ReadOnly.Enabled,
		KeepReferrers:     cfg.GC.KeepReferrers,
		DisableRedirect:   cfg.Storage.Redirect.Disable,
		InlineMax:         cfg.Storage.Inline.MaxSize,
		Sparse:            sparsePolicy(cfg.Validation.Manifests),
		RequiredPlatforms: requiredPlatforms(cfg.Validation.Manifests.Indexes),
		URLs:              urlPolicy(cfg.Validation),
		Space:             registrySpace(space),
	}, log)
	mirror, err := newProxy(cfg, reg, md, promReg, log)
	if err != nil {
		md.Close()
		return nil, err
	}
	guard, err := newGuard(ctx, cfg, md, log)
	if err != nil {
		md.Close()
		return nil, err
	}
	tlsCfg, acmeHTTP, err := tlsSetup(cfg.HTTP.TLS, log)
	if err != nil {
		md.Close()
		return nil, err
	}
	web, err := newUI(ctx, cfg, reg, guard, md, log)
	if err != nil {
		md.Close()
		return nil, err
	}
	checks := health.New(log, healthChecks(cfg.Health, blobs, md))
	notifier, err := newNotifier(cfg, md, promReg, log)
	if err != nil {
		md.Close()
		return nil, err
	}
	handler := middleware.Headers(cfg.HTTP.Headers, routes(reg, guard, web, checks, log, m, !cfg.Log.AccessLog.Disabled, notifier, mirror))
	srv := &http.Server{
		Addr:    cfg.HTTP.Addr,
		Handler: handler,
		// Only the headers get a deadline: a whole-request ReadTimeout
		// would cut off large uploads, which are instead guarded by the API's
		// per-read idle deadline.
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Protocols:         protocols(cfg.HTTP),
	}
	return &Server{cfg: cfg, log: log, meta: md, reg: reg, http: srv, gc: gc.New(md, blobs, log, m),
		metrics: m, health: checks, debug: debugServer(cfg.HTTP.Debug, promReg, checks), acmeHTTP: acmeHTTP, notify: notifier,
		mirror: mirror}, nil
}

// newNotifier builds the webhooks' notifier from notifications (nil when
// no endpoint is enabled) and installs its event hook in the store.
func newNotifier(cfg *config.Config, md meta.Store, reg prometheus.Registerer, log *slog.Logger) (*notify.Notifier, error) {
	store, ok := md.(meta.EventStore)
	if !ok || len(cfg.Notifications.Endpoints) == 0 {
		return nil, nil
	}
	return notify.New(notify.Options{Config: cfg.Notifications, Store: store, Log: log, Registerer: reg,
		Addr: cfg.HTTP.Addr, SingleNode: cfg.Database == nil})
}

// Run listens on the configured address and serves until ctx is cancelled,
// then drains in-flight requests for up to http.draintimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.HTTP.Addr)
	if err != nil {
		s.meta.Close()
		return fmt.Errorf("listen on %s: %w", s.cfg.HTTP.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.meta.Close()
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go s.purgeLoop(bg)
	go s.gcLoop(bg)
	go s.indexSearch(bg)
	// Not bg: the lanes outlive ctx, to drain in Shutdown.
	if err := s.notify.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return err
	}
	if s.mirror != nil {
		go s.mirror.Run(bg)
	}
	s.health.Start(bg)
	if s.debug != nil {
		go s.serveDebug()
		defer s.debug.Close()
	}
	stopACME, err := s.startACMEHTTP()
	if err != nil {
		ln.Close()
		return err
	}
	defer stopACME()

	errc := make(chan error, 1)
	go func() {
		if s.http.TLSConfig != nil {
			// Certificates come from TLSConfig; ServeTLS also turns on HTTP/2.
			errc <- s.http.ServeTLS(ln, "", "")
			return
		}
		errc <- s.http.Serve(ln)
	}()
	s.log.Info("wharf listening", "addr", ln.Addr().String(), "root", s.cfg.Storage.Filesystem.RootDirectory)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "drain", s.cfg.HTTP.DrainTimeout)
	drain, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.DrainTimeout)
	defer cancel()
	// After the requests, before the database closes: the webhooks get
	// what is left of the drain time, and what they cannot deliver stays
	// in the database.
	defer s.notify.Shutdown(drain)
	if err := s.http.Shutdown(drain); err != nil {
		s.http.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func (s *Server) serveDebug() {
	s.log.Info("debug listener (metrics, pprof)", "addr", s.debug.Addr)
	if err := s.debug.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("debug listener failed", "addr", s.debug.Addr, "err", err)
	}
}

// indexSearch records, once at start, the search descriptions of
// repositories that have none (imported, migrated, or stored by an older
// wharf); until then search describes them the slow way.
func (s *Server) indexSearch(ctx context.Context) {
	if s.cfg.Storage.Maintenance.ReadOnly.Enabled {
		return
	}
	n, err := s.reg.IndexSearch(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("search index backfill failed", "err", err, "recorded", n)
	} else if n > 0 {
		s.log.Info("search index backfilled", "repositories", n)
	}
}

// purgeLoop removes stale uploads per storage.maintenance.uploadpurging.
func (s *Server) purgeLoop(ctx context.Context) {
	p := s.cfg.Storage.Maintenance.UploadPurging
	if !p.Enabled || s.cfg.Storage.Maintenance.ReadOnly.Enabled {
		return
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		n, err := s.reg.PurgeUploads(ctx, p.Age, p.DryRun)
		if !p.DryRun {
			s.metrics.UploadsPurged(n)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Error("upload purge failed", "err", err)
		} else if n > 0 {
			s.log.Info("upload purge done", "purged", n, "dryrun", p.DryRun)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// gcLoop runs a garbage collection pass every gc.interval. The first pass
// sweeps the whole store, catching anything a crash kept out of the queue;
// later passes review only the queue.
func (s *Server) gcLoop(ctx context.Context) {
	if s.cfg.GC.Disabled || s.cfg.Storage.Maintenance.ReadOnly.Enabled {
		return
	}
	opts := GCOptions(s.cfg)
	opts.Sweep = true
	t := time.NewTicker(s.cfg.GC.Interval)
	defer t.Stop()
	for {
		rep, err := s.gc.Run(ctx, opts, nil)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("garbage collection failed", "err", err)
		case rep.Tags+rep.Manifests+rep.Links+rep.Blobs > 0:
			s.log.Info("garbage collection done", "tags", rep.Tags, "manifests", rep.Manifests,
				"links", rep.Links, "blobs", rep.Blobs, "bytes_freed", rep.Bytes, "duration", rep.Duration)
		}
		opts.Sweep = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sparsePolicy maps validation.manifests.sparse onto the registry's
// policy; distribution's indexes.platforms: all (validated not to
// contradict it) makes every index child required.
func sparsePolicy(v config.ManifestValidation) registry.SparsePolicy {
	switch {
	case strings.EqualFold(v.Indexes.Platforms, "all"), v.Sparse == config.SparseNone:
		return registry.SparseNone
	case v.Sparse == config.SparseAll:
		return registry.SparseAll
	}
	return registry.SparseIndexes
}

// requiredPlatforms is validation.manifests.indexes.platformlist when
// platforms is list.
func requiredPlatforms(v config.IndexValidation) []ocispec.Platform {
	if !strings.EqualFold(v.Platforms, "list") {
		return nil
	}
	out := make([]ocispec.Platform, len(v.PlatformList))
	for i, p := range v.PlatformList {
		out[i] = ocispec.Platform{OS: p.OS, Architecture: p.Architecture}
	}
	return out
}

// urlPolicy compiles validation.manifests.urls (validated).
func urlPolicy(v config.Validation) registry.URLPolicy {
	p := registry.URLPolicy{Disabled: v.Disabled}
	for _, e := range v.Manifests.URLs.Allow {
		p.Allow = append(p.Allow, regexp.MustCompile(e))
	}
	for _, e := range v.Manifests.URLs.Deny {
		p.Deny = append(p.Deny, regexp.MustCompile(e))
	}
	return p
}

// protocols is what the listener speaks: HTTP/1.1 always, HTTP/2 over TLS
// unless http.http2.disabled, and HTTP/2 over cleartext with
// http.h2c.enabled.
func protocols(c config.HTTP) *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(!c.HTTP2.Disabled)
	p.SetUnencryptedHTTP2(c.H2C.Enabled)
	return p
}

// routes composes wharf's HTTP surfaces on one mux, behind the middleware
// they all share: request ids, the access log and metrics. A new surface
// is one more mount here; its own routes stay in the package that owns it.
func routes(reg *registry.Registry, guard *auth.Guard, web *ui.Handler, checks *health.Checker, log *slog.Logger, m *metrics.Metrics,
	accessLog bool, n *notify.Notifier, mirror *proxy.Proxy) http.Handler {
	registryAPI := api.New(reg, log, api.Options{Guard: guard})
	// Outside in: the cache's rewrite names cached repositories before the
	// notifier (whose pull events then name them) and the API see them.
	v2 := notify.WrapAPI(n, registryAPI)
	mx := &mux{notFound: http.HandlerFunc(registryAPI.NotFound)}
	mx.handle("/v2", "base", v2)
	var repos http.Handler = v2
	if mirror != nil {
		repos = mirror.Rewrite(v2) // ?ns=, prefixes and the default upstream name cached repositories
	}
	mx.handlePrefix("/v2/", "unknown", repos)
	search := v1.New(reg, guard, log)
	mx.handlePrefix("/v1/", "v1", search)
	mx.handle("/_ping", "v1_ping", search)
	if guard != nil && guard.Mode == auth.ModeTokenServer {
		mx.handle(auth.TokenPath, "token", &auth.TokenHandler{Guard: guard})
	}
	if web != nil {
		mountUI(mx, web)
	}
	return middleware.WithRequestID(middleware.AccessLog(log, accessLog, middleware.Metrics(m, checks.Gate(mx))))
}

// NewLogger builds the slog logger from the log section.
func NewLogger(cfg config.Log, w io.Writer) (*slog.Logger, error) {
	level, err := config.ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Formatter == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	log := slog.New(h)
	for k, v := range cfg.Fields {
		log = log.With(k, v)
	}
	return log, nil
}
