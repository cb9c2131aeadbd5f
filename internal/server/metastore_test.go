package server

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wharf-registry/wharf/internal/config"
)

func TestPostgresDSN(t *testing.T) {
	cases := []struct {
		db   config.Database
		want string
	}{
		{config.Database{DSN: "host=db user=u", Host: "ignored"}, "host=db user=u"},
		{config.Database{Host: "db.example", Port: 5433, User: "wharf", Password: "p@ss:w/rd?", DBName: "reg", SSLMode: "verify-full"},
			"postgres://wharf:p%40ss%3Aw%2Frd%3F@db.example:5433/reg?sslmode=verify-full"},
		{config.Database{Host: "::1", Port: 5432, User: "u", DBName: "d"}, "postgres://u@[::1]:5432/d"},
		{config.Database{Host: "/run/postgresql", Port: 5432, User: "u", DBName: "d b"}, "postgres://u@/d%20b?host=%2Frun%2Fpostgresql&port=5432"},
		{config.Database{}, "postgres://"},
		{config.Database{Host: "/tmp/s", DBName: "d"}, "postgres:///d?host=%2Ftmp%2Fs"},
	}
	for _, c := range cases {
		got := postgresDSN(&c.db)
		if got != c.want {
			t.Errorf("postgresDSN(%+v) = %q, want %q", c.db, got, c.want)
		}
	}
	for _, c := range cases[1:] {
		if _, err := pgconn.ParseConfig(c.want); err != nil {
			t.Errorf("pgconn.ParseConfig(%q): %v", c.want, err)
		}
	}
	// What the driver makes of a built URL.
	cfg, err := pgconn.ParseConfig(postgresDSN(&config.Database{Host: "db.example", Port: 5433, User: "wharf",
		Password: "p@ss:w/rd?", DBName: "my db", SSLMode: "disable"}))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if cfg.Host != "db.example" || cfg.Port != 5433 || cfg.User != "wharf" || cfg.Password != "p@ss:w/rd?" || cfg.Database != "my db" {
		t.Errorf("parsed = host %q port %d user %q password %q database %q", cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database)
	}
}
