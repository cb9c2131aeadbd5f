package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// TestWriteErrorOutOfSpace answers every "out of space" with 507 and the
// spec's DENIED code, and a message saying why.
func TestWriteErrorOutOfSpace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		message string
	}{
		{"below the reserve", &registry.Error{Code: registry.CodeInsufficientStorage, Message: "storage is below its reserve"}, "below its reserve"},
		{"metadata database full", fmt.Errorf("delete manifest: %w", &meta.FullError{Reason: "SQLite: database or disk is full", Err: errors.New("commit")}), "metadata database is out of space (SQLite: database or disk is full)"},
		{"blob store full", fmt.Errorf("commit: %w", &blob.FullError{Reason: "S3 403 QuotaExceeded", Err: errors.New("put part")}), "blob store is out of space (S3 403 QuotaExceeded)"},
		{"bare sentinel", fmt.Errorf("commit: %w", blob.ErrFull), "storage is out of space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPatch, "/v2/a/blobs/uploads/x", nil)
			writeError(w, r, slog.New(slog.DiscardHandler), tc.err)
			if w.Code != http.StatusInsufficientStorage {
				t.Fatalf("status %d, want 507; body %s", w.Code, w.Body)
			}
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if e := body.Errors[0]; e.Code != registry.CodeDenied || !strings.Contains(e.Message, tc.message) {
				t.Errorf("error %+v, want code DENIED and a message with %q", e, tc.message)
			}
		})
	}
}
