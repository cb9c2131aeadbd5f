// Command wharf-bench measures wharf side by side with distribution
// (Debian's docker-registry 2.8.2 and distribution v3, installed with go
// install) on loopback, or, with -scale, how wharf's listings and manifest
// reads behave as its metadata grows.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/wharf-registry/wharf/internal/bench"
)

func main() {
	if bench.MaybeServeFloor() {
		return // a floor server the bench started from this binary
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wharf-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wharf-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o       bench.Options
		only    string
		scale   bool
		budget  time.Duration
		maxRepo int
		tags    int
		timeout time.Duration
		cpuprof string
		peers   string
	)
	fs.StringVar(&o.WharfBin, "wharf", "bin/wharf", "path of the wharf binary")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds per workload (the servers alternate; medians and every round reported)")
	fs.StringVar(&only, "only", "", "comma-separated workloads to run: "+strings.Join(bench.WorkloadNames(), ","))
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of the timed workloads")
	fs.BoolVar(&o.Quick, "quick", false, "small sizes for a smoke run (4x16 MiB layers, 100 images, 2s)")
	fs.BoolVar(&o.WharfOnly, "wharf-only", false, "run against wharf only")
	fs.StringVar(&peers, "peers", string(bench.Distribution)+","+string(bench.DistributionV3),
		"comma-separated registries to run beside wharf: "+string(bench.Distribution)+" (Debian's 2.8.2), "+
			string(bench.DistributionV3)+" ("+bench.DistributionV3Version+", go install)")
	fs.StringVar(&o.CacheDir, "cache", ".cache/bench", "where installed peers are kept")
	fs.BoolVar(&o.Fair, "fair", false, "sync and drop the page cache before every server starts (root)")
	fs.StringVar(&o.Out, "out", "", "also write the table as Markdown to this file")
	fs.StringVar(&o.TmpDir, "tmp", os.TempDir(), "parent directory of the servers' storage")
	fs.BoolVar(&scale, "scale", false, "scale run: fill wharf with many repositories and tags, report latencies")
	fs.DurationVar(&budget, "scale-budget", 15*time.Minute, "time allowed for filling in the scale run")
	fs.IntVar(&maxRepo, "scale-repos", 100000, "repositories to reach in the scale run (stages at 1k, 10k, 100k)")
	fs.IntVar(&tags, "scale-tags", 10, "tags per repository in the scale run")
	fs.DurationVar(&timeout, "timeout", 90*time.Minute, "abort the whole run after this long")
	fs.StringVar(&cpuprof, "cpuprofile", "", "write the bench client's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cpuprof != "" {
		stopProfile, err := startCPUProfile(cpuprof)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Rounds < 1 {
		return fmt.Errorf("-rounds must be at least 1")
	}
	if only != "" {
		o.Only = strings.Split(only, ",")
	}
	for _, p := range strings.Split(peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.Peers = append(o.Peers, bench.Kind(p))
		}
	}
	o.Stdout, o.Stderr = stdout, stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if scale {
		return bench.Scale(ctx, bench.ScaleOptions{
			WharfBin: o.WharfBin, TmpDir: o.TmpDir, Out: o.Out, Quick: o.Quick,
			Budget: budget, MaxRepos: maxRepo, TagsPerRepo: tags,
			Stdout: stdout, Stderr: stderr,
		})
	}
	return bench.Run(ctx, o)
}

// startCPUProfile profiles the bench process itself, to tell the client's
// costs from the server's when a figure looks client-bound.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
