package blob

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestS3FullMarksOutOfSpace(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"bucket quota (Ceph RGW)", minio.ErrorResponse{Code: "QuotaExceeded", StatusCode: http.StatusForbidden}, true},
		{"bucket quota (MinIO)", minio.ErrorResponse{Code: "XMinioAdminBucketQuotaExceeded", StatusCode: http.StatusBadRequest}, true},
		{"backend full (MinIO)", fmt.Errorf("upload part 3: %w", minio.ErrorResponse{Code: "XMinioStorageFull", StatusCode: http.StatusInsufficientStorage}), true},
		{"entity too large", minio.ErrorResponse{Code: "EntityTooLarge", StatusCode: http.StatusBadRequest}, true},
		{"507 with another code", minio.ErrorResponse{Code: "SlowDown", StatusCode: http.StatusInsufficientStorage}, true},
		{"joined with a read error", errors.Join(minio.ErrorResponse{Code: "QuotaExceeded"}, errors.New("client hung up")), true},
		{"internal error", minio.ErrorResponse{Code: "InternalError", StatusCode: http.StatusInternalServerError}, false},
		{"access denied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: http.StatusForbidden}, false},
		{"not an S3 error", errors.New("QuotaExceeded"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s3Full(tc.err)
			if got := errors.Is(err, ErrFull); got != tc.want {
				t.Errorf("errors.Is(s3Full(%v), ErrFull) = %t, want %t", tc.err, got, tc.want)
			}
			if tc.err != nil && err.Error() == ErrFull.Error() {
				t.Errorf("s3Full(%v) lost the store's reason: %v", tc.err, err)
			}
		})
	}
}
