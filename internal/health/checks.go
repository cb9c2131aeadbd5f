package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// FileCheck fails while path exists: distribution's way to take a node out
// of rotation by touching a file.
func FileCheck(path string) func(context.Context) error {
	return func(context.Context) error {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("checking %s: %w", path, err)
		}
		return nil
	}
}

// HTTPCheck fails unless a GET of uri, with headers, answers status
// (200 when 0) within timeout.
func HTTPCheck(uri string, headers http.Header, status int, timeout time.Duration) func(context.Context) error {
	if status == 0 {
		status = http.StatusOK
	}
	client := &http.Client{Timeout: timeout}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", uri, err)
		}
		for k, v := range headers {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", uri, err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != status {
			return fmt.Errorf("GET %s: status %d, want %d", uri, resp.StatusCode, status)
		}
		return nil
	}
}

// TCPCheck fails unless a TCP connection to addr opens within timeout.
func TCPCheck(addr string, timeout time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		return c.Close()
	}
}
