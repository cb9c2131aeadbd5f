//go:build !unix

package meta

import "errors"

type walGen struct{}

type walWatcher struct{}

func openWALWatcher(string) (*walWatcher, error) {
	return nil, errors.New("the WAL index is not mapped on this system")
}

func (*walWatcher) current() (walGen, bool) { return walGen{}, false }

func (*walWatcher) close() error { return nil }
