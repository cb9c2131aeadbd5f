package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wharf-registry/wharf/internal/gc"
	"github.com/wharf-registry/wharf/internal/server"
)

// garbageCollect is `wharf garbage-collect [flags] CONFIG`, with
// distribution's flags. It is safe to run while `wharf serve` runs on the
// same root: every removal is re-checked inside its own transaction.
func garbageCollect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("garbage-collect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "list what would be removed and the bytes freed; remove nothing")
	untagged := fs.Bool("delete-untagged", false, "also remove manifests no tag, index or kept subject needs")
	quiet := fs.Bool("quiet", false, "print only the summary")
	grace := fs.Duration("grace", -1, "protect pushed but unreferenced content younger than this (default: gc.graceperiod)")
	fs.BoolVar(dryRun, "d", false, "shorthand for --dry-run")
	fs.BoolVar(untagged, "m", false, "shorthand for --delete-untagged")
	fs.BoolVar(quiet, "q", false, "shorthand for --quiet")
	if err := fs.Parse(flagsFirst(args)); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: wharf garbage-collect [--dry-run] [--delete-untagged] [--quiet] [--grace DURATION] CONFIG")
		return errUsage
	}
	cfg, err := loadConfig(fs.Arg(0), stderr)
	if err != nil {
		return err
	}
	if cfg.Storage.Maintenance.ReadOnly.Enabled && !*dryRun {
		return fmt.Errorf("the registry is configured read-only (storage.maintenance.readonly.enabled); only --dry-run is allowed")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	blobs, md, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer md.Close()
	log, err := server.NewLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	opts := server.GCOptions(cfg)
	// An operator collecting by hand wants a deleted image's layers gone
	// now, even if they were pulled after the delete. A push that was told
	// such a layer is present may then have its manifest refused, and
	// must push again; the server's collector keeps the layer instead.
	opts.DryRun, opts.Sweep, opts.IgnoreTouches = *dryRun, true, true
	opts.DeleteUntagged = opts.DeleteUntagged || *untagged
	if *grace >= 0 {
		opts.GracePeriod = *grace
	}
	progress := newProgress(stdout, stderr, *quiet)
	rep, err := gc.New(md, blobs, log, nil).Run(ctx, opts, func(e gc.Event) {
		if !*quiet {
			fmt.Fprintln(stdout, formatEvent(e, *dryRun))
		}
		progress.tick(e)
	})
	progress.done()
	if err != nil {
		return fmt.Errorf("garbage collection: %w", err)
	}
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(stdout, "%s %d tags, %d manifests, %d blob links, %d blobs; %s freed in %s\n",
		verb, rep.Tags, rep.Manifests, rep.Links, rep.Blobs, humanBytes(rep.Bytes), rep.Duration.Round(time.Millisecond))
	return nil
}

func formatEvent(e gc.Event, dryRun bool) string {
	prefix := ""
	if dryRun {
		prefix = "would remove "
	}
	switch e.Kind {
	case "tag":
		return fmt.Sprintf("%stag %s:%s (%s)", prefix, e.Repo, e.Tag, e.Digest)
	case "blob":
		return fmt.Sprintf("%sblob %s (%s)", prefix, e.Digest, humanBytes(e.Size))
	default:
		return fmt.Sprintf("%s%s %s@%s", prefix, e.Kind, e.Repo, e.Digest)
	}
}

// flagsFirst moves flags ahead of positional arguments, so both
// `garbage-collect --dry-run config.yml` and `garbage-collect config.yml
// --dry-run` work.
func flagsFirst(args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			return append(flags, rest...)
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
			if (a == "--grace" || a == "-grace") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(flags, rest...)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progress prints a running count on a terminal, so a long pass shows it is
// alive when its event lines are not shown there (--quiet, or stdout sent
// to a file); it prints nothing when stderr is not a terminal.
type progress struct {
	w     io.Writer
	on    bool
	last  time.Time
	count int
	bytes int64
}

func newProgress(stdout, stderr io.Writer, quiet bool) *progress {
	on := isTerminal(stderr) && (quiet || !isTerminal(stdout))
	return &progress{w: stderr, on: on}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) tick(e gc.Event) {
	p.count++
	p.bytes += e.Size
	if p.on && time.Since(p.last) > 200*time.Millisecond {
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r%d removed, %s freed", p.count, humanBytes(p.bytes))
	}
}

func (p *progress) done() {
	if p.on && p.count > 0 {
		fmt.Fprintln(p.w)
	}
}
