package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ok     bool
	}{
		{"open registry", http.StatusOK, true},
		{"authentication on", http.StatusUnauthorized, true},
		{"health gate closed", http.StatusServiceUnavailable, false},
		{"server error", http.StatusInternalServerError, false},
		{"not a registry", http.StatusNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			err := healthcheckCmd([]string{srv.URL + "/v2/"}, io.Discard, io.Discard)
			if (err == nil) != tt.ok {
				t.Errorf("status %d: err = %v, want ok=%t", tt.status, err, tt.ok)
			}
		})
	}
}

func TestHealthcheckNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := healthcheckCmd([]string{"http://" + addr + "/v2/"}, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck passed with nothing listening")
	}
}

func TestRunUsage(t *testing.T) {
	if err := run([]string{"healthcheck", "a", "b"}, io.Discard, io.Discard); err != errUsage {
		t.Errorf("two URLs: err = %v, want usage", err)
	}
}
