package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wharf-registry/wharf/internal/meta"
)

// Batching of pull events: pulls are not changes, so their events are
// written after the response, many per transaction.
const (
	pullQueue = 4096
	pullBatch = 256
	pullDelay = 50 * time.Millisecond
)

// pullWriter writes pull events in batches. Its queue is bounded: when it
// is full the request writes its own event, which slows pulls rather than
// losing events or growing memory. close writes what is queued.
type pullWriter struct {
	store meta.EventStore
	log   *slog.Logger

	mu     sync.RWMutex
	closed bool
	ch     chan meta.OutboxEvent
	done   chan struct{}
}

func newPullWriter(store meta.EventStore, log *slog.Logger) *pullWriter {
	p := &pullWriter{store: store, log: log, ch: make(chan meta.OutboxEvent, pullQueue), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *pullWriter) add(evs []meta.OutboxEvent) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for i, ev := range evs {
		if p.closed {
			p.write(evs[i:])
			return
		}
		select {
		case p.ch <- ev:
		default:
			p.write(evs[i:])
			return
		}
	}
}

func (p *pullWriter) write(evs []meta.OutboxEvent) {
	if err := p.store.AppendEvents(context.Background(), evs); err != nil {
		p.log.Error("webhook pull events lost", "events", len(evs), "err", err)
	}
}

func (p *pullWriter) run() {
	defer close(p.done)
	var batch []meta.OutboxEvent
	for ev := range p.ch {
		batch = append(batch[:0], ev)
		timer := time.NewTimer(pullDelay)
	gather:
		for len(batch) < pullBatch {
			select {
			case ev, ok := <-p.ch:
				if !ok {
					break gather
				}
				batch = append(batch, ev)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		p.write(batch)
	}
}

// close writes every queued event and stops.
func (p *pullWriter) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.ch)
	}
	p.mu.Unlock()
	<-p.done
}
