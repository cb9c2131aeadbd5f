package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestEnsureDistributionV3RelativeCache: -cache defaults to a relative
// path, which go install refuses as GOBIN and which would name the wrong
// binary for a server started in another directory.
func TestEnsureDistributionV3RelativeCache(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	installed := filepath.Join(dir, ".cache", "bench", "registry-"+DistributionV3Version)
	if err := os.MkdirAll(filepath.Dir(installed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(installed, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	logf := func(format string, args ...any) { t.Logf(format, args...) }
	bin, err := ensureDistributionV3(context.Background(), ".cache/bench", logf)
	if err != nil {
		t.Fatal(err)
	}
	if bin != installed {
		t.Fatalf("binary = %q, want the installed one as an absolute path %q", bin, installed)
	}
}
