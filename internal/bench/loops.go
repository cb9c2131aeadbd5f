package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// firstError keeps the first error any worker reports.
type firstError struct {
	once sync.Once
	err  error
}

func (f *firstError) set(err error) { f.once.Do(func() { f.err = err }) }

// timedLoop runs op in workers goroutines until d has passed, recording
// each call's latency. It stops at the first error, and returns the rate of
// completed calls per second with their latencies.
func timedLoop(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker, i int) error) (float64, Latency, error) {
	var (
		wg    sync.WaitGroup
		fail  firstError
		lats  = make([][]time.Duration, workers)
		start = time.Now()
	)
	deadline := start.Add(d)
	// One deadline for the whole loop bounds a wedged request, sooner than
	// the client's own per-request timeout, which net/http then skips: it
	// would cost every request a timer and a context of its own, client
	// CPU taken from the server on this shared machine.
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(loopGrace))
	defer cancel()
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(deadline) || ctx.Err() != nil {
					return
				}
				if err := op(ctx, w, i); err != nil {
					fail.set(err)
					cancel()
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if fail.err != nil {
		return 0, Latency{}, fail.err
	}
	all := mergeLatencies(lats)
	return float64(len(all)) / elapsed.Seconds(), Summarize(all), nil
}

// loopGrace is how long a timed loop's last requests may take once its
// time is up before they fail the run.
const loopGrace = time.Minute

// queueLoop runs op(i) for i in [0, n) on workers goroutines, recording
// each call's latency, and stops at the first error. It returns the total
// wall time and the latencies.
func queueLoop(ctx context.Context, workers, n int, op func(ctx context.Context, i int) error) (time.Duration, Latency, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		fail  firstError
		next  atomic.Int64
		lats  = make([][]time.Duration, workers)
		start = time.Now()
	)
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
					fail.set(err)
					cancel()
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if fail.err != nil {
		return 0, Latency{}, fail.err
	}
	return elapsed, Summarize(mergeLatencies(lats)), nil
}

// parallel runs op(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(ctx context.Context, workers, n int, op func(ctx context.Context, i int) error) error {
	_, _, err := queueLoop(ctx, workers, n, op)
	return err
}

func mergeLatencies(per [][]time.Duration) []time.Duration {
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	return all
}
