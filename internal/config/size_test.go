package config

import (
	"strings"
	"testing"
)

func TestStorageReserve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		env     []string
		want    int64 // -1: unset
		wantErr string
	}{
		{name: "unset", want: -1},
		{name: "bytes", yaml: "reserve: 1048576", want: 1 << 20},
		{name: "zero turns it off", yaml: "reserve: 0", want: 0},
		{name: "MiB", yaml: "reserve: 64MiB", want: 64 << 20},
		{name: "GB with space", yaml: "reserve: 2 GB", want: 2 << 30},
		{name: "k", yaml: "reserve: 512k", want: 512 << 10},
		{name: "env", env: []string{"REGISTRY_STORAGE_RESERVE=8MiB"}, want: 8 << 20},
		{name: "env wins", yaml: "reserve: 1GiB", env: []string{"REGISTRY_STORAGE_RESERVE=0"}, want: 0},
		{name: "negative", yaml: "reserve: -1", wantErr: "storage.reserve"},
		{name: "unknown unit", yaml: "reserve: 5 parsecs", wantErr: "cannot parse"},
		{name: "fraction", yaml: "reserve: 1.5GiB", wantErr: "cannot parse"},
		{name: "overflow", yaml: "reserve: 99999999999TiB", wantErr: "too large"},
		{name: "mapping", yaml: "reserve: {a: 1}", wantErr: "expected a size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\n"
			if tc.yaml != "" {
				doc += "  " + tc.yaml + "\n"
			}
			c, _, err := Parse([]byte(doc), tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := int64(-1)
			if c.Storage.Reserve != nil {
				got = int64(*c.Storage.Reserve)
			}
			if got != tc.want {
				t.Errorf("storage.reserve = %d, want %d", got, tc.want)
			}
		})
	}
}
