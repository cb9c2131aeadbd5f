package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/importer"
	"github.com/wharf-registry/wharf/internal/server"
)

// importCmd is `wharf import [--verify] [CONFIG]`: it records the
// registry:2 data under the storage root (directory or bucket) in wharf's
// metadata store, leaving the blob bytes where they are. Running it again
// changes nothing.
func importCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verify := fs.Bool("verify", false, "re-hash every blob before recording it (reads all the bytes)")
	if err := fs.Parse(flagsFirst(args)); err != nil {
		return errUsage
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "usage: wharf import [--verify] [CONFIG]")
		return errUsage
	}
	cfg, err := loadConfig(fs.Arg(0), stderr)
	if err != nil {
		return err
	}
	log, err := server.NewLogger(cfg.Log, stderr)
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
	present, err := server.Registry2Present(ctx, blobs)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if !present {
		return fmt.Errorf("import: the storage root holds no registry:2 data (%s/repositories)", blob.LegacyDir)
	}
	rep, err := server.ImportRegistry2(ctx, cfg, blobs, md, log, importer.Options{Verify: *verify})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d repositories, %d blob links, %d manifests, %d tags in %s; %d skipped, %d uploads dropped\n",
		rep.Repositories, rep.Blobs, rep.Manifests, rep.Tags, rep.Duration.Round(1e6), rep.Skipped, rep.Uploads)
	return nil
}
