package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SessionStore remembers the web UI's sessions that ended before they
// expired (a logout), so that a copy of the cookie is refused by every
// node from then on. A revocation is kept until the session would have
// expired anyway.
type SessionStore interface {
	// RevokeSession records that session id, valid until expires, ended;
	// revocations past their expiry are dropped on the way.
	RevokeSession(ctx context.Context, id string, expires time.Time) error
	// SessionRevoked reports whether session id was revoked.
	SessionRevoked(ctx context.Context, id string) (bool, error)
}

// RevokeSession implements SessionStore.
func (s *SQL) RevokeSession(ctx context.Context, id string, expires time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM ui_revoked_sessions WHERE expires_at < ?`, s.millis()); err != nil {
			return fmt.Errorf("drop expired session revocations: %w", err)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO ui_revoked_sessions (id, expires_at) VALUES (?, ?)
			ON CONFLICT (id) DO NOTHING`, id, expires.UnixMilli()); err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		return nil
	})
}

// SessionRevoked implements SessionStore.
func (s *SQL) SessionRevoked(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM ui_revoked_sessions WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read session revocation: %w", err)
	}
	return true, nil
}
