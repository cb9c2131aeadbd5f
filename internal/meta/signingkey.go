package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// TokenSigningKey is the name under which the token server's signing key
// is stored.
const TokenSigningKey = "token-server"

// SigningKey implements Store. A stored key is read without a write, so
// every start but the first costs one query.
func (s *SQL) SigningKey(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var pem []byte
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT pem FROM signing_keys WHERE name = ?`), name).Scan(&pem)
	if err == nil {
		return pem, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read signing key %s: %w", name, err)
	}
	if len(candidate) == 0 {
		return nil, fmt.Errorf("signing key %s: none stored and none given", name)
	}
	// The insert does nothing when another node stored its key first; the
	// SELECT, in the same transaction and after the insert (which on
	// PostgreSQL waits for a concurrent insert of the name to commit),
	// then returns that key.
	err = s.tx(uninterrupted(ctx), func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO signing_keys (name, pem, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`, name, candidate, s.millis()); err != nil {
			return fmt.Errorf("store signing key %s: %w", name, err)
		}
		if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT pem FROM signing_keys WHERE name = ?`), name).Scan(&pem); err != nil {
			return fmt.Errorf("read signing key %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pem, nil
}
