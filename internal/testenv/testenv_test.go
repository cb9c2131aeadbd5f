package testenv

import "testing"

func TestWithDatabase(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable", "postgres://u:p@127.0.0.1:5432/wharf_x?sslmode=disable"},
		{"postgresql://127.0.0.1/", "postgresql://127.0.0.1/wharf_x"},
		{"host=/run/postgresql user=postgres dbname=postgres", "host=/run/postgresql user=postgres dbname=postgres dbname=wharf_x"},
	}
	for _, tt := range tests {
		got, err := WithDatabase(tt.dsn, "wharf_x")
		if err != nil || got != tt.want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
		}
	}
}

func TestS3Host(t *testing.T) {
	tests := []struct {
		endpoint, host string
		secure         bool
	}{
		{"http://127.0.0.1:9000", "127.0.0.1:9000", false},
		{"https://127.0.0.1:9000/", "127.0.0.1:9000", true},
		{"127.0.0.1:9000", "127.0.0.1:9000", false},
	}
	for _, tt := range tests {
		host, secure := S3Server{Endpoint: tt.endpoint}.Host()
		if host != tt.host || secure != tt.secure {
			t.Errorf("Host(%q) = %q, %t; want %q, %t", tt.endpoint, host, secure, tt.host, tt.secure)
		}
	}
}
