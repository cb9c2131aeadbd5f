package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"text/tabwriter"

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
	return tw.Flush()
}
