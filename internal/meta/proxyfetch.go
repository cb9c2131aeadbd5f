package meta

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// FetchLeases are the pull-through cache's cluster-wide fetch leases.
type FetchLeases interface {
	// ClaimFetch takes the lease on key for ttl unless another holder's
	// lease is still running; it reports whether the caller holds it.
	ClaimFetch(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// RenewFetch extends a held lease.
	RenewFetch(ctx context.Context, key string, ttl time.Duration) error
	// ReleaseFetch ends a lease.
	ReleaseFetch(ctx context.Context, key string) error
}

// ClaimFetch implements FetchLeases: an expired lease is removed, then the
// row is inserted unless present, in one transaction.
func (s *SQL) ClaimFetch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	claimed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.millis()
		if _, err := s.exec(ctx, tx, `DELETE FROM proxy_fetches WHERE fetch_key = ? AND expires_at < ?`, key, now); err != nil {
			return fmt.Errorf("expire fetch lease: %w", err)
		}
		res, err := s.exec(ctx, tx, `INSERT INTO proxy_fetches (fetch_key, expires_at) VALUES (?, ?) ON CONFLICT (fetch_key) DO NOTHING`, key, now+ttl.Milliseconds())
		if err != nil {
			return fmt.Errorf("claim fetch lease: %w", err)
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	return claimed, err
}

// RenewFetch implements FetchLeases.
func (s *SQL) RenewFetch(ctx context.Context, key string, ttl time.Duration) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `UPDATE proxy_fetches SET expires_at = ? WHERE fetch_key = ?`, s.millis()+ttl.Milliseconds(), key)
		if err != nil {
			return fmt.Errorf("renew fetch lease: %w", err)
		}
		return nil
	})
}

// ReleaseFetch implements FetchLeases.
func (s *SQL) ReleaseFetch(ctx context.Context, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM proxy_fetches WHERE fetch_key = ?`, key); err != nil {
			return fmt.Errorf("release fetch lease: %w", err)
		}
		return nil
	})
}
