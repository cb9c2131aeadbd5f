package blobtest

import (
	"context"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// Tracker wraps a blob.Store and keeps each upload's blob.UploadState the
// way the registry keeps it in the metadata store, so tests can drive
// uploads by id alone.
type Tracker struct {
	blob.Store
	mu     sync.Mutex
	states map[string]blob.UploadState
}

// Track wraps s.
func Track(s blob.Store) *Tracker {
	return &Tracker{Store: s, states: map[string]blob.UploadState{}}
}

func (t *Tracker) state(id string) blob.UploadState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.states[id]
}

func (t *Tracker) setState(id string, st blob.UploadState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st == nil {
		delete(t.states, id)
		return
	}
	t.states[id] = st
}

// WriteUpload writes with the upload's current state and keeps the new one.
func (t *Tracker) WriteUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	n, st, err := t.Store.WriteUpload(ctx, id, t.state(id), offset, r)
	if st != nil || err == nil {
		t.setState(id, st)
	}
	return n, err
}

// UploadSize reports the upload's size.
func (t *Tracker) UploadSize(ctx context.Context, id string) (int64, error) {
	return t.Store.UploadSize(ctx, id, t.state(id))
}

// OpenUpload reads the upload's bytes (all of them the store holds).
func (t *Tracker) OpenUpload(ctx context.Context, id string) (io.ReadCloser, error) {
	size, err := t.Store.UploadSize(ctx, id, t.state(id))
	if err != nil {
		return nil, err
	}
	return t.Store.OpenUpload(ctx, id, t.state(id), size)
}

// CommitUpload commits the upload and forgets its state.
func (t *Tracker) CommitUpload(ctx context.Context, id string, size int64, d digest.Digest) error {
	err := t.Store.CommitUpload(ctx, id, t.state(id), size, d)
	if err == nil {
		t.setState(id, nil)
	}
	return err
}

// CancelUpload cancels the upload and forgets its state.
func (t *Tracker) CancelUpload(ctx context.Context, id string) error {
	err := t.Store.CancelUpload(ctx, id, t.state(id))
	if err == nil {
		t.setState(id, nil)
	}
	return err
}
