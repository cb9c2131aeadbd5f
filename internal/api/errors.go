package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/middleware"
	"github.com/wharf-registry/wharf/internal/registry"
)

// codeStatus maps each registry code to the HTTP status and the code a
// client sees (wharf's internal range and size markers fold into OCI codes).
var codeStatus = map[registry.Code]struct {
	status int
	code   registry.Code
}{
	registry.CodeBlobUnknown:         {http.StatusNotFound, registry.CodeBlobUnknown},
	registry.CodeBlobUploadInvalid:   {http.StatusBadRequest, registry.CodeBlobUploadInvalid},
	registry.CodeBlobUploadUnknown:   {http.StatusNotFound, registry.CodeBlobUploadUnknown},
	registry.CodeDigestInvalid:       {http.StatusBadRequest, registry.CodeDigestInvalid},
	registry.CodeManifestBlobUnknown: {http.StatusBadRequest, registry.CodeManifestBlobUnknown},
	registry.CodeManifestInvalid:     {http.StatusBadRequest, registry.CodeManifestInvalid},
	registry.CodeManifestUnknown:     {http.StatusNotFound, registry.CodeManifestUnknown},
	registry.CodeNameInvalid:         {http.StatusBadRequest, registry.CodeNameInvalid},
	registry.CodeNameUnknown:         {http.StatusNotFound, registry.CodeNameUnknown},
	registry.CodeSizeInvalid:         {http.StatusBadRequest, registry.CodeSizeInvalid},
	registry.CodeTagInvalid:          {http.StatusBadRequest, registry.CodeTagInvalid},
	registry.CodeUnauthorized:        {http.StatusUnauthorized, registry.CodeUnauthorized},
	registry.CodeDenied:              {http.StatusForbidden, registry.CodeDenied},
	registry.CodeUnsupported:         {http.StatusMethodNotAllowed, registry.CodeUnsupported},
	registry.CodeTooManyRequests:     {http.StatusTooManyRequests, registry.CodeTooManyRequests},
	registry.CodeRangeInvalid:        {http.StatusRequestedRangeNotSatisfiable, registry.CodeBlobUploadInvalid},
	registry.CodeTooLarge:            {http.StatusRequestEntityTooLarge, registry.CodeSizeInvalid},
	registry.CodeInsufficientStorage: {http.StatusInsufficientStorage, registry.CodeDenied},
	// The spec's answer to more tag parameters than a registry sets at once.
	registry.CodeTooManyTags: {http.StatusRequestURITooLong, registry.CodeTagInvalid},
	codeNotFound:             {http.StatusNotFound, registry.CodeUnsupported},
}

const (
	// codeNotFound marks a path no route serves.
	codeNotFound registry.Code = "ROUTE_UNKNOWN"
)

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    registry.Code `json:"code"`
	Message string        `json:"message"`
	Detail  any           `json:"detail,omitempty"`
}

// writeError answers with the OCI error body for err. Errors without a code
// are internal: logged in full, shown to the client only by request id.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	defer drainOnError(w, r)()
	if d, ok := auth.AsDenied(err); ok {
		auth.WriteDenied(w, d)
		return
	}
	e, ok := registry.AsError(err)
	if !ok {
		status := http.StatusInternalServerError
		msg := "internal server error; request id " + middleware.RequestID(r.Context())
		if errors.Is(err, context.Canceled) {
			status = 499 // client went away; nobody reads this
		}
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", middleware.RequestID(r.Context()))
		writeJSONError(w, status, errorEntry{Code: "UNKNOWN", Message: msg})
		return
	}
	m, known := codeStatus[e.Code]
	if !known {
		m.status, m.code = http.StatusBadRequest, e.Code
	}
	if m.status >= 500 { // refused for lack of space: the operator must hear of it
		log.WarnContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", middleware.RequestID(r.Context()))
	}
	writeJSONError(w, m.status, errorEntry{Code: m.code, Message: e.Message, Detail: e.Detail})
}

func writeJSONError(w http.ResponseWriter, status int, e errorEntry) {
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{e}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(status)
	w.Write(body)
}
