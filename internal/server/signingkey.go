package server

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/meta"
)

// legacyKeyPath is where wharf generated the token signing key before the
// key moved into the metadata store.
func legacyKeyPath(root string) string {
	return filepath.Join(root, "auth", "token-signing-key.pem")
}

// storedSigningKey returns the token server's signing key from the
// metadata store, so that every node sharing the database signs and
// accepts the same tokens. On the first start the key comes from the file
// an earlier wharf generated under root (tokens it signed stay valid), or
// is generated; whichever node stores its key first wins.
func storedSigningKey(ctx context.Context, md meta.Store, root string, log *slog.Logger) (crypto.Signer, error) {
	legacy, err := os.ReadFile(legacyKeyPath(root))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	candidate := legacy
	if candidate == nil {
		if candidate, err = auth.NewKeyPEM(); err != nil {
			return nil, err
		}
	}
	stored, err := md.SigningKey(ctx, meta.TokenSigningKey, candidate)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if legacy != nil && !bytes.Equal(stored, legacy) {
		log.Warn("token signing key: the metadata database holds another key than " + legacyKeyPath(root) + "; tokens signed with the file's key are refused")
	}
	return auth.ParsePrivateKey(stored)
}

// MoveLegacySigningKey stores the token signing key an earlier wharf
// generated under root in md, unless md holds a key already, as the first
// start of this version does; a migration runs it on the source first so
// that the key travels with the metadata.
func MoveLegacySigningKey(ctx context.Context, md meta.Store, root string) error {
	legacy, err := os.ReadFile(legacyKeyPath(root))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if _, err := md.SigningKey(ctx, meta.TokenSigningKey, legacy); err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	return nil
}
