package meta

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestFullMarksOutOfSpace(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"postgres disk_full", &pgconn.PgError{Code: "53100", Message: "could not extend file"}, true},
		{"postgres out_of_memory", fmt.Errorf("put manifest: %w", &pgconn.PgError{Code: "53200"}), true},
		{"postgres too_many_connections", &pgconn.PgError{Code: "53300"}, false},
		{"postgres deadlock", &pgconn.PgError{Code: pgDeadlockDetected}, false},
		{"other", errors.New("database or disk is full"), false}, // only the code counts
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := full(tc.err)
			if got := errors.Is(err, ErrFull); got != tc.want {
				t.Errorf("errors.Is(full(%v), ErrFull) = %t, want %t", tc.err, got, tc.want)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("full(%v) lost the cause: %v", tc.err, err)
			}
			var fe *FullError
			if tc.want && (!errors.As(err, &fe) || fe.Reason == "") {
				t.Errorf("full(%v) = %v, want a FullError with a reason", tc.err, err)
			}
		})
	}
}
