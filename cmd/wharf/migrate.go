package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/migrate"
	"github.com/wharf-registry/wharf/internal/server"
)

const migrateUsage = "usage: wharf migrate --from SOURCE_CONFIG --to TARGET_CONFIG [--blobs] [--batch N]"

// migrateCmd is `wharf migrate`: copy a stopped deployment's metadata (and
// blobs with --blobs) into another deployment's stores, e.g. SQLite to
// PostgreSQL and a filesystem to S3. Running it again continues an
// interrupted copy; a finished one is not copied twice.
func migrateCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "configuration of the deployment to copy (stopped)")
	to := fs.String("to", "", "configuration of the deployment to fill")
	blobs := fs.Bool("blobs", false, "copy blob bytes into the target's blob store too")
	batch := fs.Int("batch", migrate.DefaultBatch, "rows read, and written in one transaction, at a time")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *from == "" || *to == "" {
		fmt.Fprintln(stderr, migrateUsage)
		return errUsage
	}
	srcCfg, err := loadConfig(*from, stderr)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dstCfg, err := loadConfig(*to, stderr)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	src, closeSrc, err := openMigrateStores(ctx, srcCfg, "source")
	if err != nil {
		return err
	}
	defer closeSrc()
	dst, closeDst, err := openMigrateStores(ctx, dstCfg, "target")
	if err != nil {
		return err
	}
	defer closeDst()
	// The key an older wharf kept under the source's root goes into the
	// source's database first, so that it travels with the rest.
	if err := server.MoveLegacySigningKey(ctx, src.Meta, srcCfg.Storage.Filesystem.RootDirectory); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	start := time.Now()
	rep, err := migrate.Run(ctx, src, dst, migrate.Options{Blobs: *blobs, Batch: *batch, Progress: stdout})
	if err != nil {
		return err
	}
	var rows int64
	for _, n := range rep.Rows {
		rows += n
	}
	fmt.Fprintf(stdout, "migrate: done in %s: %d rows verified, %d written by this run; %d blobs (%d bytes) copied\n",
		time.Since(start).Round(time.Millisecond), rows, rep.Written, rep.BlobsCopied, rep.BytesCopied)
	return nil
}

// openMigrateStores opens a deployment's stores for a migration.
func openMigrateStores(ctx context.Context, cfg *config.Config, what string) (migrate.Stores, func(), error) {
	blobs, md, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return migrate.Stores{}, nil, fmt.Errorf("%s: %w", what, err)
	}
	sql, ok := md.(*meta.SQL)
	if !ok {
		md.Close()
		return migrate.Stores{}, nil, fmt.Errorf("%s: metadata store %T cannot be migrated", what, md)
	}
	return migrate.Stores{Meta: sql, Blobs: blobs}, func() { md.Close() }, nil
}
