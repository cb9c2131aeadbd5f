package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// Options build a Notifier.
type Options struct {
	Config config.Notifications
	Store  meta.EventStore
	Log    *slog.Logger
	// Registerer takes the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Addr is this node's listen address, reported as the events' source.
	Addr string
	// SingleNode says no other process shares the database (SQLite): leases
	// left by an earlier run are freed at start instead of waited out.
	SingleNode bool
	// Clock and Jitter replace the real ones in tests; Client the HTTP
	// client; Poll how often idle lanes look for due events (250ms).
	Clock  Clock
	Jitter func(time.Duration) time.Duration
	Client *http.Client
	Poll   time.Duration
}

// Notifier records events (as meta's event hook and for pulls) and runs a
// delivery lane per endpoint.
type Notifier struct {
	store     meta.EventStore
	log       *slog.Logger
	rec       *recorder
	lanes     []*lane
	kicks     []chan struct{}
	pulls     *pullWriter
	poll      time.Duration
	retention time.Duration
	single    bool
	owner     string

	draining atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New builds the notifier for the enabled endpoints and installs its hook
// in the store. It returns nil when no endpoint is enabled: nothing is
// recorded then.
func New(opts Options) (*Notifier, error) {
	var enabled []config.Endpoint
	for _, e := range opts.Config.Endpoints {
		if !e.Disabled {
			enabled = append(enabled, e)
		}
	}
	if len(enabled) == 0 {
		return nil, nil
	}
	clock := opts.Clock
	if clock == nil {
		clock = realClock{}
	}
	jitter := opts.Jitter
	if jitter == nil {
		jitter = equalJitter
	}
	client := opts.Client
	if client == nil {
		// No redirects: a receiver that moved must be configured anew,
		// not followed with the endpoint's headers.
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	host, _ := os.Hostname()
	instance := newEventID()
	n := &Notifier{
		store: opts.Store, log: opts.Log, poll: poll, retention: opts.Config.Retention, single: opts.SingleNode,
		owner: host + "/" + instance,
		rec: &recorder{endpoints: enabled, references: opts.Config.Events.IncludeReferences,
			source: Source{Addr: sourceAddr(host, opts.Addr), InstanceID: instance}, now: clock.Now},
	}
	names := make([]string, len(enabled))
	for i, e := range enabled {
		names[i] = e.Name
	}
	m := newMetrics(opts.Registerer, opts.Store, names)
	for _, c := range enabled {
		ep, err := newEndpoint(c)
		if err != nil {
			return nil, err
		}
		n.lanes = append(n.lanes, &lane{ep: ep, store: opts.Store, client: client, clock: clock, jitter: jitter,
			owner: n.owner, node: n.rec.source.Addr, lease: leaseFor(ep), log: opts.Log, m: &laneMetrics{m: m, name: ep.name}})
		n.kicks = append(n.kicks, make(chan struct{}, 1))
	}
	n.pulls = newPullWriter(opts.Store, opts.Log)
	opts.Store.SetEventHook(n.hook)
	return n, nil
}

// hook is meta's event hook: it builds the events and wakes the lanes
// (which find them once the transaction commits, or at their next poll).
func (n *Notifier) hook(ctx context.Context, changes []meta.Change) []meta.OutboxEvent {
	evs := n.rec.events(ctx, changes)
	if len(evs) > 0 {
		n.kick()
	}
	return evs
}

func (n *Notifier) kick() {
	for _, k := range n.kicks {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// Start runs the lanes, the pull writer and the event log's pruning.
func (n *Notifier) Start(ctx context.Context) error {
	if n == nil {
		return nil
	}
	if n.single {
		if err := n.store.ReleaseLeases(ctx, ""); err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
	}
	ctx, n.cancel = context.WithCancel(ctx)
	for i, l := range n.lanes {
		n.wg.Go(func() { l.run(ctx, n.kicks[i], n.poll, n.draining.Load) })
	}
	go n.pruneLoop(ctx)
	return nil
}

// Shutdown writes the queued pull events, then lets the lanes deliver what
// is due until nothing is or ctx ends; what is left stays in the database
// for the next start (or another node).
func (n *Notifier) Shutdown(ctx context.Context) {
	if n == nil {
		return
	}
	n.pulls.close()
	if n.cancel == nil {
		return // never started
	}
	n.draining.Store(true)
	n.kick()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.cancel()
	if err := n.store.ReleaseLeases(context.Background(), n.owner); err != nil {
		n.log.Warn("webhooks: release leases", "err", err)
	}
}

// pruneLoop removes events older than the retention once every endpoint
// is done with them.
func (n *Notifier) pruneLoop(ctx context.Context) {
	if n.retention <= 0 {
		return
	}
	t := time.NewTicker(min(n.retention/4, time.Hour))
	defer t.Stop()
	for {
		if pruned, err := n.store.PruneEvents(ctx, time.Now().Add(-n.retention)); err != nil && ctx.Err() == nil {
			n.log.Error("webhooks: prune event log", "err", err)
		} else if pruned > 0 {
			n.log.Info("webhooks: event log pruned", "events", pruned)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WrapAPI is Wrap on a notifier that may be nil (no endpoint): next as is.
func WrapAPI(n *Notifier, next http.Handler) http.Handler {
	if n == nil {
		return next
	}
	return n.Wrap(next)
}

// sourceAddr is this node as distribution names it: host name and port.
func sourceAddr(host, listen string) string {
	if _, port, err := net.SplitHostPort(listen); err == nil {
		return net.JoinHostPort(host, port)
	}
	return host
}

// leaseFor is how long a claim holds its deliveries: long enough for a
// whole run to time out attempt by attempt, so that another node never
// takes over a run that is still going.
func leaseFor(ep *endpoint) time.Duration {
	return time.Duration(laneRun+1)*ep.timeout + 10*time.Second
}
