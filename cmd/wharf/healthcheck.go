package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// defaultHealthURL is where the container image's registry listens.
const defaultHealthURL = "http://127.0.0.1:5000/v2/"

// healthTimeout bounds one probe, well inside Docker's default 30 s.
const healthTimeout = 5 * time.Second

// healthcheckCmd is `wharf healthcheck [URL]`: exit 0 when the registry
// answers, 1 when it does not. It exists for images without a shell or
// curl (FROM scratch), where HEALTHCHECK can only run wharf itself.
func healthcheckCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: wharf healthcheck [URL]")
		return errUsage
	}
	u := defaultHealthURL
	if len(args) == 1 {
		u = args[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	status, err := probe(ctx, u)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	if !healthy(status) {
		return fmt.Errorf("healthcheck: GET %s: status %d", u, status)
	}
	fmt.Fprintf(stdout, "ok: GET %s: %d\n", u, status)
	return nil
}

// probe GETs u and returns the status code.
func probe(ctx context.Context, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("request %s: %w", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, nil
}

// healthy says whether a /v2/ status means the registry serves: 401 is a
// registry with authentication turned on, answering as it should; 503 is
// wharf's health gate (a failing storage check) and counts as unhealthy.
func healthy(status int) bool {
	return status == http.StatusOK || status == http.StatusUnauthorized
}
