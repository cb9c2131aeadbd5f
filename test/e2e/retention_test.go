package e2e

// Retention policies (gc.retention): a table of policies and tag histories
// with the tags expected to survive a garbage-collect pass, which
// --dry-run must list without removing. Helpers here start with "ret".

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// retStep is one push of a history: tag, and the image it points at
// (empty: an image of its own, named after the tag). "sleep" waits instead.
type retStep struct {
	repo, tag, image string
	sleep            time.Duration
}

// retHistory builds steps from "repo:tag" or "repo:tag=image" strings;
// "sleep:DURATION" pauses.
func retHistory(t *testing.T, items ...string) []retStep {
	t.Helper()
	var out []retStep
	for _, it := range items {
		if d, ok := strings.CutPrefix(it, "sleep:"); ok {
			dur, err := time.ParseDuration(d)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, retStep{sleep: dur})
			continue
		}
		repo, rest, ok := strings.Cut(it, ":")
		if !ok {
			t.Fatalf("bad step %q", it)
		}
		tag, img, _ := strings.Cut(rest, "=")
		if img == "" {
			img = tag
		}
		out = append(out, retStep{repo: repo, tag: tag, image: img})
	}
	return out
}

// retPush pushes the history over raw HTTP, at least 10 ms apart so the
// tags' push times (millisecond resolution) are strictly ordered. It
// returns repo -> tag -> digest as it ends.
func retPush(t *testing.T, s *Server, steps []retStep) map[string]map[string]string {
	t.Helper()
	type blobs struct{ cfg, layer string }
	uploaded := map[string]blobs{}
	out := map[string]map[string]string{}
	for _, st := range steps {
		if st.sleep > 0 {
			time.Sleep(st.sleep)
			continue
		}
		b, ok := uploaded[st.repo]
		if !ok {
			b.cfg = whUploadBlob(t, s, st.repo, []byte(`{"architecture":"amd64","os":"linux"}`))
			b.layer = whUploadBlob(t, s, st.repo, whRandBytes(uint64(len(uploaded)+1), 1500))
			uploaded[st.repo] = b
		}
		m := map[string]any{
			"schemaVersion": 2,
			"mediaType":     string(types.OCIManifestSchema1),
			"config":        map[string]any{"mediaType": string(types.OCIConfigJSON), "digest": b.cfg, "size": 37},
			"layers":        []any{map[string]any{"mediaType": string(types.OCILayer), "digest": b.layer, "size": 1500}},
			"annotations":   map[string]string{"org.example.image": st.image},
		}
		body, _ := json.Marshal(m)
		r := whPutManifest(t, s, st.repo, st.tag, string(types.OCIManifestSchema1), body)
		if r.Status != http.StatusCreated {
			t.Fatalf("PUT %s:%s: %s, want 201%s", st.repo, st.tag, r, whLogIf5xx(s, r))
		}
		if out[st.repo] == nil {
			out[st.repo] = map[string]string{}
		}
		out[st.repo][st.tag] = whDigest(body)
		time.Sleep(10 * time.Millisecond)
	}
	return out
}

// retTags lists a repository's tags, sorted.
func retTags(t *testing.T, s *Server, repo string) []string {
	t.Helper()
	r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/tags/list", nil, nil)
	var tl struct {
		Tags []string `json:"tags"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tl) != nil {
		t.Fatalf("tags of %s: %s", repo, r)
	}
	out := append([]string{}, tl.Tags...)
	sort.Strings(out)
	return out
}

func TestRetention(t *testing.T) {
	cases := []struct {
		name    string
		config  string   // the gc section
		history []string // pushes in order
		// survivors per repository; every repository of the history must
		// be listed.
		want map[string][]string
		// deleteUntagged: the expired tags' manifests go too when no
		// surviving tag shares them.
		deleteUntagged bool
		online         bool // applied by the server's own pass, not the CLI
	}{
		{
			name: "keeplast",
			config: `gc:
  retention:
    - repositories: "keep/last"
      keeplast: 2
`,
			history: []string{"keep/last:t1", "keep/last:t2", "keep/last:t3", "keep/last:t4", "keep/last:t5"},
			want:    map[string][]string{"keep/last": {"t4", "t5"}},
		},
		{
			name: "keeplast counts the last push of a tag, not its first",
			config: `gc:
  retention:
    - repositories: "*"
      keeplast: 2
`,
			history: []string{"re/push:a", "re/push:b", "re/push:c", "re/push:a"},
			want:    map[string][]string{"re/push": {"a", "c"}},
		},
		{
			name: "keeptags globs",
			config: `gc:
  retention:
    - repositories: "*"
      keeptags: ["v*", "latest"]
`,
			history: []string{"globs/app:v1.0", "globs/app:dev-1", "globs/app:latest", "globs/app:v2.0-rc1",
				"globs/app:feature-v3", "globs/app:dev-2", "globs/app:latest2"},
			want: map[string][]string{"globs/app": {"latest", "v1.0", "v2.0-rc1"}},
		},
		{
			name: "keeplast and keeptags: a tag survives if any rule keeps it",
			config: `gc:
  retention:
    - repositories: "mix/*"
      keeplast: 1
      keeptags: ["v*"]
`,
			history: []string{"mix/app:v1", "mix/app:dev1", "mix/app:v2", "mix/app:dev2", "mix/app:dev3"},
			want:    map[string][]string{"mix/app": {"dev3", "v1", "v2"}},
		},
		{
			name: "keepwithin 1h keeps everything recent",
			config: `gc:
  retention:
    - repositories: "*"
      keepwithin: 1h
`,
			history: []string{"within/app:a", "within/app:b", "within/app:c", "within/app:d"},
			want:    map[string][]string{"within/app": {"a", "b", "c", "d"}},
		},
		{
			name: "keepwithin drops what is older",
			config: `gc:
  retention:
    - repositories: "*"
      keepwithin: 3s
`,
			history: []string{"age/app:old1", "age/app:old2", "sleep:3500ms", "age/app:new1", "age/app:new2"},
			want:    map[string][]string{"age/app": {"new1", "new2"}},
		},
		{
			name: "repository matching no policy is untouched",
			config: `gc:
  retention:
    - repositories: "team/*"
      keeplast: 1
`,
			history: []string{"team/app:t1", "team/app:t2", "team/app:t3", "other/app:t1", "other/app:t2", "other/app:t3",
				"team:t1", "team:t2"},
			want: map[string][]string{"team/app": {"t3"}, "other/app": {"t1", "t2", "t3"}, "team": {"t1", "t2"}},
		},
		{
			name: "first matching policy wins; * spans slashes",
			config: `gc:
  retention:
    - repositories: "team/special"
      keeplast: 3
    - repositories: "team/*"
      keeplast: 1
    - repositories: "*"
      keeptags: ["keep"]
`,
			history: []string{
				"team/special:t1", "team/special:t2", "team/special:t3", "team/special:t4",
				"team/a/b:t1", "team/a/b:t2",
				"misc:keep", "misc:t1", "misc:t2",
			},
			want: map[string][]string{"team/special": {"t2", "t3", "t4"}, "team/a/b": {"t2"}, "misc": {"keep"}},
		},
		{
			name: "tags sharing a manifest; deleteuntagged removes only unshared manifests",
			config: `gc:
  deleteuntagged: true
  retention:
    - repositories: "*"
      keeplast: 1
`,
			history:        []string{"share/app:old=img1", "share/app:solo=img2", "share/app:new=img1"},
			want:           map[string][]string{"share/app": {"new"}},
			deleteUntagged: true,
		},
		{
			name: "applied by the server's own pass",
			config: `gc:
  interval: 200ms
  retention:
    - repositories: "online/*"
      keeplast: 2
`,
			history: []string{"online/app:t1", "online/app:t2", "online/app:t3", "online/app:t4", "offline/app:t1", "offline/app:t2"},
			want:    map[string][]string{"online/app": {"t3", "t4"}, "offline/app": {"t1", "t2"}},
			online:  true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{ExtraConfig: tc.config})
			final := retPush(t, s, retHistory(t, tc.history...))
			if len(final) != len(tc.want) {
				t.Fatalf("test case: history has repositories %v, want lists %d", gcSortedKeys(final), len(tc.want))
			}
			// The tags expected to go, as repo:tag.
			var wantGone []string
			for repo, tags := range final {
				for tag := range tags {
					if !slices.Contains(tc.want[repo], tag) {
						wantGone = append(wantGone, repo+":"+tag)
					}
				}
			}
			sort.Strings(wantGone)

			if tc.online {
				deadline := time.Now().Add(10 * time.Second)
				for {
					done := true
					for repo, want := range tc.want {
						if !slices.Equal(retTags(t, s, repo), want) {
							done = false
						}
					}
					if done {
						break
					}
					if time.Now().After(deadline) {
						for repo, want := range tc.want {
							t.Errorf("after 10s the server's collector left %s with tags %v, want %v", repo, retTags(t, s, repo), want)
						}
						t.FailNow()
					}
					time.Sleep(50 * time.Millisecond)
				}
				// Nothing is left for a CLI pass to do.
				if out := gcRun(t, s, "--dry-run"); len(out.Tags) != 0 {
					t.Errorf("dry run after the server applied retention lists tags %v", out.Tags)
				}
			} else {
				dry := gcRun(t, s, "--dry-run", "--grace", "0s")
				got := append([]string{}, dry.Tags...)
				sort.Strings(got)
				if !slices.Equal(got, wantGone) {
					t.Errorf("dry run lists tags %v, want %v\n%s", got, wantGone, dry.Raw)
				}
				for repo, tags := range final {
					if all := gcSortedKeys(tags); !slices.Equal(retTags(t, s, repo), all) {
						t.Errorf("after the dry run %s has tags %v, want all of %v", repo, retTags(t, s, repo), all)
					}
				}

				run := gcRun(t, s, "--grace", "0s")
				got = append([]string{}, run.Tags...)
				sort.Strings(got)
				if !slices.Equal(got, wantGone) {
					t.Errorf("garbage-collect removed tags %v, want %v\n%s", got, wantGone, run.Raw)
				}
				if run.Summary.Tags != len(wantGone) {
					t.Errorf("summary says %d tags, want %d", run.Summary.Tags, len(wantGone))
				}
				// The dry run showed what the real run did, manifests and
				// blobs included.
				dm, rm := slices.Clone(dry.Manifests), slices.Clone(run.Manifests)
				sort.Strings(dm)
				sort.Strings(rm)
				if !slices.Equal(dm, rm) || !maps2Equal(dry.Blobs, run.Blobs) {
					t.Errorf("dry run listed manifests %v blobs %v; real run removed %v %v", dm, gcSortedKeys(dry.Blobs), rm, gcSortedKeys(run.Blobs))
				}
				if !tc.deleteUntagged && run.Summary.Manifests != 0 {
					t.Errorf("removed %d manifests without deleteuntagged:\n%s", run.Summary.Manifests, run.Raw)
				}
				for repo, want := range tc.want {
					if got := retTags(t, s, repo); !slices.Equal(got, want) {
						t.Errorf("%s has tags %v, want %v", repo, got, want)
					}
				}
				// A second pass finds nothing more to remove.
				if again := gcRun(t, s, "--grace", "0s"); len(again.Tags) != 0 {
					t.Errorf("second pass removed tags %v", again.Tags)
				}
			}

			// Survivors resolve to the manifest they were pushed as; the
			// expired tags are unknown; an expired tag's manifest stays
			// by digest unless deleteuntagged removes it (only when no
			// surviving tag shares it).
			kept := map[string]bool{}
			for repo, tags := range tc.want {
				for _, tag := range tags {
					r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+tag, nil, nil)
					if r.Status != http.StatusOK || r.Header.Get("Docker-Content-Digest") != final[repo][tag] {
						t.Errorf("GET %s:%s: %d %s, want 200 %s", repo, tag, r.Status, r.Header.Get("Docker-Content-Digest"), final[repo][tag])
					}
					kept[repo+"@"+final[repo][tag]] = true
				}
			}
			for _, rt := range wantGone {
				repo, tag, _ := strings.Cut(rt, ":")
				r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+tag, nil, nil)
				whExpectError(t, "GET expired "+rt, r, http.StatusNotFound, "MANIFEST_UNKNOWN")
				dg := final[repo][tag]
				r = whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+dg, nil, nil)
				wantStatus := http.StatusOK
				if tc.deleteUntagged && !kept[repo+"@"+dg] {
					wantStatus = http.StatusNotFound
				}
				if r.Status != wantStatus {
					t.Errorf("GET %s@%s (manifest of expired tag %s): %d, want %d", repo, dg, tag, r.Status, wantStatus)
				}
			}
		})
	}
}

// TestRetentionConfigRejected: a policy that keeps nothing, or names no
// repositories, is a configuration error naming the key, not a silent
// delete-everything.
func TestRetentionConfigRejected(t *testing.T) {
	cases := []struct {
		name, gc, key string
	}{
		{"keeps nothing", "gc:\n  retention:\n    - repositories: \"*\"\n", "gc.retention[0]"},
		{"no repositories", "gc:\n  retention:\n    - keeplast: 1\n", "gc.retention[0].repositories"},
		{"negative keeplast", "gc:\n  retention:\n    - repositories: \"*\"\n      keeplast: -1\n", "gc.retention[0].keeplast"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n%s", t.TempDir(), tc.gc))
			out, errOut, code := runWharf(t, nil, "garbage-collect", "--dry-run", cfg)
			if code == 0 || !strings.Contains(errOut, tc.key) {
				t.Errorf("garbage-collect with %s: exit %d, stderr %q, want non-zero naming %s\nstdout: %s", tc.name, code, errOut, tc.key, out)
			}
		})
	}
}
