package registry

import (
	"errors"
	"fmt"
)

// Code is an error code of the OCI distribution spec (and Docker's registry
// API); the api package maps each to its HTTP status.
type Code string

// Error codes a client can see.
const (
	CodeBlobUnknown         Code = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       Code = "DIGEST_INVALID"
	CodeManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     Code = "MANIFEST_INVALID"
	CodeManifestUnknown     Code = "MANIFEST_UNKNOWN"
	CodeNameInvalid         Code = "NAME_INVALID"
	CodeNameUnknown         Code = "NAME_UNKNOWN"
	CodeSizeInvalid         Code = "SIZE_INVALID"
	CodeTagInvalid          Code = "TAG_INVALID"
	CodeUnauthorized        Code = "UNAUTHORIZED"
	CodeDenied              Code = "DENIED"
	CodeUnsupported         Code = "UNSUPPORTED"
	CodeTooManyRequests     Code = "TOOMANYREQUESTS"
	// CodeRangeInvalid is not an OCI code: it marks a chunk that does not
	// start where the upload stands, which the spec answers with 416.
	CodeRangeInvalid Code = "BLOB_UPLOAD_INVALID_RANGE"
	// CodeTooLarge marks a body over a size limit (413).
	CodeTooLarge Code = "SIZE_INVALID_TOO_LARGE"
	// CodeTooManyTags marks a manifest push with more tag parameters than
	// wharf sets at once, which the spec answers with 414.
	CodeTooManyTags Code = "TAG_INVALID_TOO_MANY"
	// CodeInsufficientStorage marks a write refused for lack of space
	// (storage.reserve reached, a store out of space or quota): 507, with
	// the spec's DENIED code and a message saying why.
	CodeInsufficientStorage Code = "DENIED_INSUFFICIENT_STORAGE"
)

// Error is a failure the client caused or may see, with an OCI code.
type Error struct {
	Code    Code
	Message string
	Detail  any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// errorf builds an *Error.
func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error inside err, if any. A store's "out of space"
// is one too: the client is told the write was refused and why.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return fullError(err)
}
