package gc

import (
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

func TestExpired(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// tags builds a newest-first list: name:age pairs, ages ascending.
	type tg struct {
		name string
		age  time.Duration
	}
	mk := func(ts ...tg) []meta.TagInfo {
		out := make([]meta.TagInfo, len(ts))
		for i, x := range ts {
			out[i] = meta.TagInfo{
				Name:      x.name,
				Digest:    digest.FromString(x.name),
				UpdatedAt: now.Add(-x.age),
			}
		}
		return out
	}
	history := mk(
		tg{"latest", 1 * time.Minute},
		tg{"v2.0", 10 * time.Minute},
		tg{"dev-3", 2 * time.Hour},
		tg{"dev-2", 25 * time.Hour},
		tg{"v1.0", 48 * time.Hour},
		tg{"dev-1", 72 * time.Hour},
	)
	cases := []struct {
		name   string
		policy Policy
		tags   []meta.TagInfo
		want   []string
	}{
		{"no tags", Policy{KeepLast: 2}, nil, nil},
		{"empty policy expires everything", Policy{}, history,
			[]string{"latest", "v2.0", "dev-3", "dev-2", "v1.0", "dev-1"}},
		{"keeplast 1", Policy{KeepLast: 1}, history,
			[]string{"v2.0", "dev-3", "dev-2", "v1.0", "dev-1"}},
		{"keeplast 3", Policy{KeepLast: 3}, history,
			[]string{"dev-2", "v1.0", "dev-1"}},
		{"keeplast equal to count", Policy{KeepLast: 6}, history, nil},
		{"keeplast above count", Policy{KeepLast: 100}, history, nil},
		{"keepwithin 1h", Policy{KeepWithin: time.Hour}, history,
			[]string{"dev-3", "dev-2", "v1.0", "dev-1"}},
		{"keepwithin boundary is inclusive", Policy{KeepWithin: 2 * time.Hour}, history,
			[]string{"dev-2", "v1.0", "dev-1"}},
		{"keepwithin just below an age", Policy{KeepWithin: 2*time.Hour - time.Millisecond}, history,
			[]string{"dev-3", "dev-2", "v1.0", "dev-1"}},
		{"keepwithin covers all", Policy{KeepWithin: 1000 * time.Hour}, history, nil},
		{"keeptags exact", Policy{KeepTags: []string{"latest"}}, history,
			[]string{"v2.0", "dev-3", "dev-2", "v1.0", "dev-1"}},
		{"keeptags glob", Policy{KeepTags: []string{"v*"}}, history,
			[]string{"latest", "dev-3", "dev-2", "dev-1"}},
		{"keeptags several", Policy{KeepTags: []string{"v*", "latest"}}, history,
			[]string{"dev-3", "dev-2", "dev-1"}},
		{"keeptags matching none", Policy{KeepTags: []string{"prod"}}, history,
			[]string{"latest", "v2.0", "dev-3", "dev-2", "v1.0", "dev-1"}},
		{"keeplast + keeptags: union", Policy{KeepLast: 2, KeepTags: []string{"v*"}}, history,
			[]string{"dev-3", "dev-2", "dev-1"}},
		{"keeplast + keepwithin: union", Policy{KeepLast: 1, KeepWithin: 26 * time.Hour}, history,
			[]string{"v1.0", "dev-1"}},
		{"all three", Policy{KeepLast: 1, KeepWithin: 3 * time.Hour, KeepTags: []string{"dev-1"}}, history,
			[]string{"dev-2", "v1.0"}},
		{"keepwithin zero means off", Policy{KeepLast: 1, KeepWithin: 0}, history,
			[]string{"v2.0", "dev-3", "dev-2", "v1.0", "dev-1"}},
		{"future timestamps are within", Policy{KeepWithin: time.Minute},
			mk(tg{"skewed", -time.Hour}, tg{"old", time.Hour}), []string{"old"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Expired(c.policy, c.tags, now)
			var names []string
			for _, g := range got {
				names = append(names, g.Name)
			}
			if !slices.Equal(names, c.want) {
				t.Errorf("Expired = %v, want %v", names, c.want)
			}
			// The expired entries are the caller's, unchanged.
			for _, g := range got {
				i := slices.IndexFunc(c.tags, func(x meta.TagInfo) bool { return x.Name == g.Name })
				if i < 0 || c.tags[i] != g {
					t.Errorf("expired entry %+v not an input entry", g)
				}
			}
		})
	}
}

func TestMatchPolicyFirstWins(t *testing.T) {
	policies := []Policy{
		{Repositories: "team/app", KeepLast: 1},
		{Repositories: "team/*", KeepLast: 2},
		{Repositories: "*", KeepLast: 3},
	}
	cases := []struct {
		repo     string
		keepLast int
		ok       bool
	}{
		{"team/app", 1, true},
		{"team/other", 2, true},
		{"team/app/sub", 2, true},
		{"library/x", 3, true},
	}
	for _, c := range cases {
		p, ok := matchPolicy(policies, c.repo)
		if ok != c.ok || p.KeepLast != c.keepLast {
			t.Errorf("matchPolicy(%q) = %+v %t, want keeplast %d", c.repo, p, ok, c.keepLast)
		}
	}
	if _, ok := matchPolicy(policies[:2], "library/x"); ok {
		t.Errorf("matchPolicy: library/x matched a team/ policy")
	}
	if _, ok := matchPolicy(nil, "x"); ok {
		t.Errorf("matchPolicy with no policies matched")
	}
}
