package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
	"github.com/wharf-registry/wharf/internal/ui"
)

// uiSessionKey names the web UI's session key in the metadata store, so
// that a session cookie one node signs every other node accepts.
const uiSessionKey = "ui-session"

// newUI builds the web UI, or nil when ui.disabled.
func newUI(ctx context.Context, cfg *config.Config, reg *registry.Registry, guard *auth.Guard, md meta.Store, log *slog.Logger) (*ui.Handler, error) {
	if cfg.UI.Disabled {
		return nil, nil
	}
	key := make([]byte, 32)
	rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	candidate := []byte(hex.EncodeToString(key))
	stored, err := md.SigningKey(ctx, uiSessionKey, candidate)
	if err != nil {
		return nil, fmt.Errorf("ui session key: %w", err)
	}
	h, err := ui.New(reg, ui.Options{Guard: guard, SessionKey: stored, BasePath: cfg.UI.BasePath,
		SessionTTL: cfg.UI.SessionTTL, Sessions: md, Log: log})
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	return h, nil
}

// mountUI gives the UI its own paths only: the API's paths, the token
// endpoint and unknown paths keep their owners' answers.
func mountUI(mx *mux, web http.Handler) {
	for _, p := range ui.ExactPaths {
		mx.handle(p, "ui", web)
	}
	for _, p := range ui.PrefixPaths {
		mx.handlePrefix(p, "ui", web)
	}
}
