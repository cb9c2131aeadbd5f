// Command wharf is a container image registry: the OCI Distribution API and
// Docker's Registry HTTP API v2 in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage:
  wharf serve [CONFIG]         run the registry (no CONFIG: defaults, data under ./data)
  wharf config check CONFIG    print the effective configuration, secrets masked
  wharf garbage-collect [--dry-run] [--delete-untagged] [--quiet] [--grace D] CONFIG
                               remove unreferenced content; safe while serve runs
  wharf import [--verify] [CONFIG]
                               record the registry:2 data under the storage root; blobs stay in place
  wharf scrub CONFIG           re-hash every blob and manifest, check every reference
  wharf du CONFIG              bytes each repository references, and only it
  wharf htpasswd [-f FILE] USER
                               write a bcrypt htpasswd entry (password from a prompt or stdin)
  wharf healthcheck [URL]      exit 0 if the registry answers GET URL (default http://127.0.0.1:5000/v2/)
  wharf migrate --from SOURCE_CONFIG --to TARGET_CONFIG [--blobs]
                               copy a stopped deployment's metadata (and blobs) into
                               another's stores, e.g. SQLite to PostgreSQL; resumable
  wharf events list [--repo R] [--state pending|delivered|dead] [--n N] [--before SEQ] CONFIG
                               the webhooks' event log (the audit trail), newest first
  wharf events show EVENT_ID CONFIG
                               one event with every delivery attempt per endpoint
  wharf events redeliver [--endpoint NAME] EVENT_ID CONFIG
                               send an event again (a running wharf picks it up)
  wharf version                print the version

Invoked as "registry" (the container image's alias) it behaves the same.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) && !errors.Is(err, errProblems) {
			fmt.Fprintln(os.Stderr, "wharf:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		if len(args) > 2 {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		path := ""
		if len(args) == 2 {
			path = args[1]
		}
		return serve(path, stderr)
	case "config":
		if len(args) != 3 || args[1] != "check" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return configCheck(args[2], stdout, stderr)
	case "garbage-collect", "gc":
		return garbageCollect(args[1:], stdout, stderr)
	case "htpasswd":
		return htpasswdCmd(args[1:], os.Stdin, stdout, stderr)
	case "import":
		return importCmd(args[1:], stdout, stderr)
	case "scrub":
		return scrubCmd(args[1:], stdout, stderr)
	case "du":
		return duCmd(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheckCmd(args[1:], stdout, stderr)
	case "migrate":
		return migrateCmd(args[1:], stdout, stderr)
	case "events":
		return eventsCmd(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "wharf", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return errUsage
}

// loadConfig loads a config file (or the defaults) with REGISTRY_*
// overrides, printing warnings.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	cfg, warnings, err := config.Load(path, os.Environ())
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	return cfg, err
}

func serve(path string, stderr io.Writer) error {
	cfg, err := loadConfig(path, stderr)
	if err != nil {
		return err
	}
	log, err := server.NewLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func configCheck(path string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(path, stderr)
	if err != nil {
		return err
	}
	out, err := cfg.MaskedYAML()
	if err != nil {
		return err
	}
	stdout.Write(out)
	writeKeyClasses(stdout, cfg.Keys())
	return nil
}

// writeKeyClasses prints, as YAML comments after the effective
// configuration, what wharf makes of each key the file and the
// environment set: implemented, harmless (ignored, with why) or refused.
func writeKeyClasses(w io.Writer, keys []config.KeyVerdict) {
	if len(keys) == 0 {
		return
	}
	width := 0
	for _, k := range keys {
		width = max(width, len(k.Key))
	}
	fmt.Fprintln(w, "# keys set, and what wharf does with them:")
	for _, k := range keys {
		line := fmt.Sprintf("#   %-*s  %s", width, k.Key, k.Class)
		if k.Why != "" {
			line += ": " + k.Why
		}
		fmt.Fprintln(w, line)
	}
}
