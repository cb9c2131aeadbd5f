package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-registry/wharf/internal/meta"
)

// leaseTTL is how long a fetch lease lives without renewal: a crashed
// node's fetch is taken over after it.
const leaseTTL = time.Minute

// LeaseLocker is a BlobLocker over the metadata store's fetch leases, so
// that the nodes of a cluster on PostgreSQL fetch a blob once between them.
// A waiting node holds no database connection: it polls.
type LeaseLocker struct {
	Leases meta.FetchLeases
	// Poll is the wait between attempts (default 100ms).
	Poll time.Duration
}

// Lock implements BlobLocker.
func (l *LeaseLocker) Lock(ctx context.Context, key string) (func(), error) {
	poll := l.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	for {
		ok, err := l.Leases.ClaimFetch(ctx, key, leaseTTL)
		if err != nil {
			return nil, fmt.Errorf("claim fetch lease: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-time.After(poll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	stop := make(chan struct{})
	go l.renew(ctx, key, stop)
	return func() {
		close(stop)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		l.Leases.ReleaseFetch(rctx, key)
	}, nil
}

// renew keeps a held lease alive while the fetch runs.
func (l *LeaseLocker) renew(ctx context.Context, key string, stop chan struct{}) {
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			l.Leases.RenewFetch(ctx, key, leaseTTL)
		}
	}
}
