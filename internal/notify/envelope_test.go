package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// goldenRecorder makes events at a fixed time from a fixed node.
func goldenRecorder(refs bool) *recorder {
	return &recorder{
		endpoints: []config.Endpoint{{Name: "ci"}}, references: refs,
		source: Source{Addr: "wharf-1:5000", InstanceID: "7c0b3f5e-5a4a-4f5e-9d36-0e7b7d0bd1a2"},
		now:    func() time.Time { return time.Date(2026, 12, 5, 15, 4, 5, 123456789, time.UTC) },
	}
}

var goldenRequest = &requestInfo{id: "req-1", addr: "127.0.0.1:41000", host: "registry.example.com:5000",
	method: "PUT", userAgent: "docker/27.0", scheme: "https", from: "library/base"}

// TestEnvelopeGolden: the bodies are byte for byte what distribution sends
// for the same event: its field names and order, its omissions, one event
// per envelope, its media types.
func TestEnvelopeGolden(t *testing.T) {
	cfg := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":7,"digest":"sha256:aaaa"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":32,"digest":"sha256:bbbb"}]}`)
	md := digest.FromBytes(cfg)
	layer := digest.Digest("sha256:" + "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c")
	const head = `{"events":[{"id":"ID","timestamp":"2026-12-05T15:04:05.123456789Z",`
	const tail = `"request":{"id":"req-1","addr":"127.0.0.1:41000","host":"registry.example.com:5000","method":"PUT","useragent":"docker/27.0"},` +
		`"actor":{"name":"alice"},"source":{"addr":"wharf-1:5000","instanceID":"7c0b3f5e-5a4a-4f5e-9d36-0e7b7d0bd1a2"}}]}`
	tests := []struct {
		name   string
		refs   bool
		format string
		change meta.Change
		want   string
		ctype  string
	}{
		{"manifest push", false, "", meta.Change{Action: "push", Kind: meta.KindManifest, Repo: "team/app", Tag: "v1",
			Digest: md, MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(cfg)), Payload: cfg},
			head + `"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":SIZE,"digest":"` + md.String() +
				`","length":SIZE,"repository":"team/app","url":"https://registry.example.com:5000/v2/team/app/manifests/` + md.String() + `","tag":"v1"},` + tail,
			MediaTypeV1},
		{"manifest push with references, v2", true, config.FormatV2, meta.Change{Action: "push", Kind: meta.KindManifest, Repo: "team/app",
			Digest: md, MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(cfg)), Payload: cfg},
			head + `"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":SIZE,"digest":"` + md.String() +
				`","length":SIZE,"repository":"team/app","url":"https://registry.example.com:5000/v2/team/app/manifests/` + md.String() + `",` +
				`"references":[{"mediaType":"application/vnd.oci.image.config.v1+json","size":7,"digest":"sha256:aaaa"},` +
				`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":32,"digest":"sha256:bbbb"}]},` + tail,
			MediaTypeV2},
		{"blob push", false, "", meta.Change{Action: "push", Kind: meta.KindBlob, Repo: "team/app", Digest: layer, Size: 32},
			head + `"action":"push","target":{"mediaType":"application/octet-stream","size":32,"digest":"` + layer.String() +
				`","length":32,"repository":"team/app","url":"https://registry.example.com:5000/v2/team/app/blobs/` + layer.String() + `"},` + tail,
			MediaTypeV1},
		{"blob mount", false, "", meta.Change{Action: "mount", Kind: meta.KindBlob, Repo: "team/app", Digest: layer, Size: 32},
			head + `"action":"mount","target":{"mediaType":"application/octet-stream","size":32,"digest":"` + layer.String() +
				`","length":32,"repository":"team/app","fromRepository":"library/base","url":"https://registry.example.com:5000/v2/team/app/blobs/` + layer.String() + `"},` + tail,
			MediaTypeV1},
		{"manifest delete", false, "", meta.Change{Action: "delete", Kind: meta.KindManifest, Repo: "team/app", Digest: md},
			head + `"action":"delete","target":{"digest":"` + md.String() + `","repository":"team/app"},` + tail, MediaTypeV1},
		{"tag delete", false, "", meta.Change{Action: "delete", Kind: meta.KindTag, Repo: "team/app", Tag: "v1"},
			head + `"action":"delete","target":{"repository":"team/app","tag":"v1"},` + tail, MediaTypeV1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := goldenRecorder(tt.refs).event(goldenRequest, "alice", tt.change)
			if len(ev.ID) != 36 || ev.ID[14] != '4' {
				t.Errorf("id %q is not a version 4 UUID", ev.ID)
			}
			ev.ID = "ID"
			payload, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			body, ctype, err := Body(tt.format, payload)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, "SIZE", strconv.Itoa(len(cfg)))
			if string(body) != want {
				t.Errorf("body =\n%s\nwant\n%s", body, want)
			}
			if ctype != tt.ctype {
				t.Errorf("Content-Type = %s, want %s", ctype, tt.ctype)
			}
		})
	}
}

// TestEnvelopeAnonymous: an anonymous request has an empty actor object,
// as distribution's encoding has.
func TestEnvelopeAnonymous(t *testing.T) {
	ev := goldenRecorder(false).event(&requestInfo{method: "GET"}, "", meta.Change{Action: "delete", Kind: meta.KindTag, Repo: "r", Tag: "t"})
	ev.ID = "x"
	b, _ := json.Marshal(ev)
	want := `{"id":"x","timestamp":"2026-12-05T15:04:05.123456789Z","action":"delete","target":{"repository":"r","tag":"t"},` +
		`"request":{"id":"","method":"GET","useragent":""},"actor":{},"source":{"addr":"wharf-1:5000","instanceID":"7c0b3f5e-5a4a-4f5e-9d36-0e7b7d0bd1a2"}}`
	if string(b) != want {
		t.Errorf("event =\n%s\nwant\n%s", b, want)
	}
}

// TestCloudEvent: the CloudEvents format carries the same event as data.
func TestCloudEvent(t *testing.T) {
	ev := goldenRecorder(false).event(goldenRequest, "alice", meta.Change{Action: "delete", Kind: meta.KindTag, Repo: "team/app", Tag: "v1"})
	payload, _ := json.Marshal(ev)
	body, ctype, err := Body(config.FormatCloudEvents, payload)
	if err != nil || ctype != MediaTypeCloudEvents {
		t.Fatalf("Body = %s, %v", ctype, err)
	}
	var ce map[string]json.RawMessage
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"specversion": `"1.0"`, "id": `"` + ev.ID + `"`, "type": `"io.github.wharf-registry.event.delete"`,
		"source": `"//registry.example.com:5000"`, "subject": `"team/app"`, "datacontenttype": `"application/json"`,
		"time": `"2026-12-05T15:04:05.123456789Z"`, "data": string(payload),
	} {
		if string(ce[k]) != want {
			t.Errorf("%s = %s, want %s", k, ce[k], want)
		}
	}
}

// TestEndpointFilters: distribution's ignore lists and wharf's HEAD-pull
// switch pick the endpoints of each event.
func TestEndpointFilters(t *testing.T) {
	r := goldenRecorder(false)
	r.endpoints = []config.Endpoint{
		{Name: "all"},
		{Name: "nopull", Ignore: config.EndpointIgnore{Actions: []string{"pull"}}},
		{Name: "noblobs", IgnoredMediaTypes: []string{"application/octet-stream"}},
		{Name: "noblobs2", Ignore: config.EndpointIgnore{MediaTypes: []string{"application/octet-stream"}}},
		{Name: "nohead", SkipHeadPulls: true},
	}
	tests := []struct {
		name   string
		method string
		change meta.Change
		want   string
	}{
		{"blob pull by HEAD", "HEAD", meta.Change{Action: "pull", Kind: meta.KindBlob, Repo: "r", Digest: "sha256:x"}, "[all]"},
		{"blob pull by GET", "GET", meta.Change{Action: "pull", Kind: meta.KindBlob, Repo: "r", Digest: "sha256:x"}, "[all nohead]"},
		{"manifest pull by HEAD", "HEAD", meta.Change{Action: "pull", Kind: meta.KindManifest, Repo: "r", MediaType: "m"}, "[all noblobs noblobs2]"},
		{"manifest push", "PUT", meta.Change{Action: "push", Kind: meta.KindManifest, Repo: "r", MediaType: "m"}, "[all nopull noblobs noblobs2 nohead]"},
		{"tag delete", "DELETE", meta.Change{Action: "delete", Kind: meta.KindTag, Repo: "r", Tag: "t"}, "[all nopull noblobs noblobs2 nohead]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := withRequestInfo(t.Context(), &requestInfo{method: tt.method})
			evs := r.events(ctx, []meta.Change{tt.change})
			got := "[]"
			if len(evs) == 1 {
				got = fmtList(evs[0].Endpoints)
			}
			if got != tt.want {
				t.Errorf("endpoints = %s, want %s", got, tt.want)
			}
		})
	}
}

func withRequestInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, requestKey, info)
}

func fmtList(s []string) string { return fmt.Sprint(s) }
