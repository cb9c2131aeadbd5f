package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/scrub"
	"github.com/wharf-registry/wharf/internal/server"
)

// errProblems makes the command exit 1 after it printed its findings.
var errProblems = fmt.Errorf("integrity problems found")

// scrubCmd is `wharf scrub CONFIG`: re-hash everything, check every
// reference, exit non-zero on any problem.
func scrubCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: wharf scrub CONFIG")
		return errUsage
	}
	cfg, err := loadConfig(args[0], stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	blobs, md, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer md.Close()
	rep, err := scrub.Run(ctx, md, blobs, func(p scrub.Problem) { fmt.Fprintln(stdout, p) })
	if err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	for _, d := range rep.Orphans {
		fmt.Fprintf(stdout, "orphan: %s: bytes without metadata (left by a crash; harmless)\n", d)
	}
	if rep.Sparse > 0 {
		fmt.Fprintf(stdout, "sparse: %d references to content that sparse manifests were pushed without (by design; not a problem)\n", rep.Sparse)
	}
	fmt.Fprintf(stdout, "checked %d blobs (%s) and %d manifests: %d problems, %d orphaned blob files\n",
		rep.Blobs, humanBytes(rep.Bytes), rep.Manifests, rep.Problems, len(rep.Orphans))
	if rep.Problems > 0 {
		return errProblems
	}
	return nil
}

// duCmd is `wharf du CONFIG`: per repository, the bytes it references and
// the bytes only it references.
func duCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: wharf du CONFIG")
		return errUsage
	}
	cfg, err := loadConfig(args[0], stderr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	_, md, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer md.Close()
	usage, err := md.Usage(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "REPOSITORY\tTAGS\tMANIFESTS\tBLOBS\tBYTES\tEXCLUSIVE\t")
	for _, u := range usage {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", u.Repo, u.Tags, u.Manifests, u.Blobs, u.Bytes, u.ExclusiveBytes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return duCached(ctx, cfg, md, usage, stdout)
}

// duCached prints, with a pull-through cache configured, the distinct bytes
// each upstream's cache holds and those of hosted repositories.
func duCached(ctx context.Context, cfg *config.Config, md meta.Store, usage []meta.RepoUsage, stdout io.Writer) error {
	lb, ok := md.(interface {
		LinkedBytes(ctx context.Context, prefixes []string, inside bool) (int64, error)
	})
	if !cfg.Proxy.Enabled() || !ok {
		return nil
	}
	ups, err := cfg.Proxy.Resolved()
	if err != nil {
		return err
	}
	var all []string
	for _, u := range ups {
		prefix := u.Name + "/"
		all = append(all, prefix)
		n, err := lb.LinkedBytes(ctx, []string{prefix}, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cached %s: %d bytes in %d repositories\n", u.Name, n, countPrefixed(usage, []string{prefix}, true))
	}
	n, err := lb.LinkedBytes(ctx, all, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hosted: %d bytes in %d repositories\n", n, countPrefixed(usage, all, false))
	return nil
}

// countPrefixed counts the repositories under (or outside) the prefixes.
func countPrefixed(usage []meta.RepoUsage, prefixes []string, inside bool) int {
	n := 0
	for _, u := range usage {
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(u.Repo, p) }) == inside {
			n++
		}
	}
	return n
}
