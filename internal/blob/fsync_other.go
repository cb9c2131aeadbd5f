//go:build !linux

package blob

import "os"

// syncData makes a file's data durable.
func syncData(f *os.File) error { return f.Sync() }

// dropCache is a no-op where fadvise is not available.
func dropCache(*os.File, int64, int64) {}

const readAheadSupported = false

func readAhead(*os.File, int64, int64) {}

// keepWrittenBudget is 0 where dropping pages is not available anyway.
func keepWrittenBudget() int64 { return 0 }

func startWriteback(*os.File, int64, int64) {}
