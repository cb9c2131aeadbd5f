package e2e

// The web UI in a real browser: headless Chromium (Debian's package)
// driven with chromedp against a real `wharf serve`, with and without
// JavaScript, and axe-core's accessibility scan. Helper names start with
// "ui". Run with
//
//	WHARF_SERVICES=chromium scripts/test-services.sh go test -run TestUIBrowser ./test/e2e/
//
// WHARF_UI_SCREENSHOTS=DIR also writes screenshots of the main pages,
// light and dark, into DIR (the README's come from there).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// uiPolicy: library/* and evil/* public, team/* bob's, alice admin, carol
// nothing of her own.
const uiPolicy = `access:
  admins: [alice]
  public: ["library/*", "evil/*"]
  rules:
    - repositories: "team/*"
      users: [bob]
      actions: ["*"]
`

// Hostile text pushed where users may write. Each would raise a dialog
// if the page ran it.
const (
	uiXSSDesc     = `Evil <script>alert("desc")</script> <img src=x onerror=alert("img")>`
	uiXSSOverview = "# Overview\n\n<script>alert('md')</script>\n\n<img src=x onerror=alert('mdimg')>\n\n[link](javascript:alert('link'))\n\n<a href=\"javascript:alert('raw')\">raw</a>\n\n*fine*\n"
)

// uiSite is the server and what was pushed to it.
type uiSite struct {
	s         *Server
	appDigest string
	axe       string
}

// uiSeed pushes, as alice: library/app (latest and stable, one image,
// signed), library/multi:1.0 (amd64 and arm64), team/secret:v1, and
// evil/xss with hostile labels, description and overview.
func uiSeed(t *testing.T, s *Server) uiSite {
	t.Helper()
	auth := auRemote(t, auBasic("alice"), nil)
	app := uiImage(t, "amd64", map[string]string{"org.opencontainers.image.description": "The app, small and fast"})
	for _, tag := range []string{"latest", "stable"} {
		if err := remote.Write(whRef(t, s, "library/app:"+tag), app, auth...); err != nil {
			t.Fatalf("push app: %v", err)
		}
	}
	appDigest, _ := app.Digest()
	appSize, _ := app.Size()
	appMT, _ := app.MediaType()
	sig := mutate.MediaType(mutate.ConfigMediaType(empty.Image, "application/vnd.dev.cosign.artifact.sig.v1+json"), types.OCIManifestSchema1)
	sig = mutate.Subject(sig, v1.Descriptor{MediaType: appMT, Digest: appDigest, Size: appSize}).(v1.Image)
	sigDigest, _ := sig.Digest()
	sigRef, err := name.NewDigest(strings.TrimPrefix(s.URL, "http://") + "/library/app@" + sigDigest.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sigRef, sig, auth...); err != nil {
		t.Fatalf("push signature: %v", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: uiImage(t, arch, nil),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := remote.WriteIndex(whRef(t, s, "library/multi:1.0"), idx, auth...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	if err := remote.Write(whRef(t, s, "team/secret:v1"), uiImage(t, "amd64", map[string]string{
		"org.opencontainers.image.description": "Top secret"}), auth...); err != nil {
		t.Fatalf("push secret: %v", err)
	}
	if err := remote.Write(whRef(t, s, "evil/xss:latest"), uiImage(t, "amd64", map[string]string{
		"x-hostile": `"><script>alert("label")</script>`}), auth...); err != nil {
		t.Fatalf("push xss: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"description": uiXSSDesc, "overview": uiXSSOverview})
	if r := auDo(t, auReq{Method: http.MethodPut, URL: s.URL + "/v2/evil/xss/_wharf/info", User: "alice", Pass: auUsers["alice"], Body: body}); r.Status != 200 {
		t.Fatalf("set hostile info: %s", r)
	}
	return uiSite{s: s, appDigest: appDigest.String()}
}

// uiImage is a small random image for arch with config labels.
func uiImage(t *testing.T, arch string, labels map[string]string) v1.Image {
	t.Helper()
	img := whRandomImage(t, 300, 2)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Labels = labels
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin"}
	cf.Config.Entrypoint = []string{"/app"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// uiBrowser is one headless Chromium with its own profile (cookies), and
// a count of JavaScript dialogs: hostile content that ran.
type uiBrowser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	dialogs *atomic.Int32
}

// uiNewBrowser starts Chromium; jsOff disables JavaScript in its page.
func uiNewBrowser(t *testing.T, bin testenv.Browser, base string, jsOff bool) *uiBrowser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin.Chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &uiBrowser{t: t, ctx: ctx, base: base, dialogs: &atomic.Int32{}}
	// The first action starts the browser; it must not run under a
	// timeout, which would stop the whole browser when it passes.
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if jsOff {
			if _, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
				return err
			}
		}
		for _, perm := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: perm}, Setting: browser.PermissionSettingGranted, Origin: base}); err != nil {
				return err
			}
		}
		return nil
	}))
	dialogs := make(chan struct{}, 100)
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.dialogs.Add(1)
			select {
			case dialogs <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// A dialog blocks the page until it is answered: answer each.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-dialogs:
				chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}
		}
	}()
	return b
}

// uiActionTimeout bounds every browser step.
const uiActionTimeout = 30 * time.Second

// do runs actions, failing the test on an error.
func (b *uiBrowser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.stepCtx()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// stepCtx bounds one step; the browser's first start runs without.
func (b *uiBrowser) stepCtx() (context.Context, context.CancelFunc) {
	if c := chromedp.FromContext(b.ctx); c == nil || c.Browser == nil {
		return b.ctx, func() {}
	}
	return context.WithTimeout(b.ctx, uiActionTimeout)
}

// uiRun runs one action returning a value, failing the test on an error.
func uiRun[T any](b *uiBrowser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := b.stepCtx()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// open navigates to path and returns the main element's text.
func (b *uiBrowser) open(path string) string {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
	return uiRun(b, chromedp.Text(chromedp.CSS("main")))
}

// clickTo clicks sel and waits for the next page to show want.
func (b *uiBrowser) clickTo(sel, want string) string {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
	return b.waitText(want)
}

// waitText waits (bounded) until the page's main text contains want.
func (b *uiBrowser) waitText(want string) string {
	b.t.Helper()
	var text string
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		cancel()
		if strings.Contains(text, want) {
			return text
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("page never showed %q; it shows:\n%s", want, text)
	return ""
}

// login logs in through the form.
func (b *uiBrowser) login(user string) {
	b.t.Helper()
	b.open("/login")
	b.do(chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), auUsers[user]))
	b.clickTo("form.login button[type=submit]", "Repositories")
	account := uiRun(b, chromedp.Text(chromedp.CSS(".account")))
	if !strings.Contains(account, "Logged in as "+user) {
		b.t.Fatalf("after login the header says %q", account)
	}
}

func uiContains(t *testing.T, what, text string, want []string, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s: no %q in\n%s", what, w, text)
		}
	}
	for _, w := range notWant {
		if strings.Contains(text, w) {
			t.Errorf("%s: %q must not show", what, w)
		}
	}
}

// TestUIBrowser walks the UI as a user would, in Chromium.
func TestUIBrowser(t *testing.T) {
	bin := testenv.Chromium(t, "run with WHARF_SERVICES=chromium scripts/test-services.sh go test -run TestUIBrowser ./test/e2e/")
	s, _ := auBasicServer(t, uiPolicy)
	site := uiSeed(t, s)
	site.axe = bin.Axe
	host := strings.TrimPrefix(s.URL, "http://")

	t.Run("anonymous browse, search, repository, index, referrer", func(t *testing.T) {
		b := uiNewBrowser(t, bin, s.URL, false)
		home := b.open("/")
		uiContains(t, "home", home, []string{"library/app", "library/multi", "The app, small and fast", "evil/xss"}, []string{"team/secret", "Top secret"})
		b.do(chromedp.SendKeys(chromedp.CSS("#q"), "mult"))
		res := b.clickTo("form.search button[type=submit]", "found")
		uiContains(t, "search", res, []string{"library/multi", "1 repository found"}, []string{"library/app", "team/secret"})
		b.clickTo(`a[href="/r/library/multi"]`, "Tags")
		man := b.clickTo(`#tag-table a[href="/r/library/multi/-/manifest/1.0"]`, "Platforms")
		uiContains(t, "index page", man, []string{"linux/amd64", "linux/arm64"}, nil)
		img := b.clickTo(`table a[href*="/-/manifest/sha256:"]`, "Layers")
		uiContains(t, "child image page", img, []string{"Config", "PATH=/usr/local/bin:/usr/bin", "/app"}, nil)
		app := b.open("/r/library/app/-/manifest/latest")
		uiContains(t, "signed image page", app, []string{"Signature", "stable"}, []string{"No signatures"})
		b.clickTo(`#referrers ~ ul a, section[aria-labelledby="referrers"] a`, "Refers to")
		if n := b.dialogs.Load(); n != 0 {
			t.Errorf("%d dialogs opened", n)
		}
	})

	t.Run("copy pull command", func(t *testing.T) {
		b := uiNewBrowser(t, bin, s.URL, false)
		b.open("/r/library/app")
		var label string
		b.do(chromedp.Click(chromedp.CSS(`button[data-copy="pull-docker"]`), chromedp.NodeVisible))
		for i := 0; i < 40 && label != "Copied"; i++ {
			label = uiRun(b, chromedp.Text(chromedp.CSS(`button[data-copy="pull-docker"]`)))
			time.Sleep(50 * time.Millisecond)
		}
		clip := uiRun(b, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if want := "docker pull " + host + "/library/app:latest"; label != "Copied" || clip != want {
			t.Errorf("copy: button %q, clipboard %q; want %q", label, clip, want)
		}
	})

	t.Run("access control", func(t *testing.T) {
		for _, user := range []string{"", "carol"} {
			b := uiNewBrowser(t, bin, s.URL, false)
			if user != "" {
				b.login(user)
			}
			uiContains(t, "home as "+user, b.open("/"), []string{"library/app"}, []string{"team/secret"})
			uiContains(t, "secret as "+user, b.open("/r/team/secret"), []string{"There is no such page"}, []string{"Top secret"})
			uiContains(t, "search as "+user, b.open("/search?q=secret"), []string{"0 repositories found"}, []string{"team/secret"})
			uiContains(t, "manifest as "+user, b.open("/r/team/secret/-/manifest/v1"), []string{"There is no such page"}, []string{"Layers"})
		}
		b := uiNewBrowser(t, bin, s.URL, false)
		b.login("bob")
		uiContains(t, "home as bob", b.open("/"), []string{"team/secret", "Top secret"}, nil)
	})

	t.Run("login and star", func(t *testing.T) {
		b := uiNewBrowser(t, bin, s.URL, false)
		b.login("bob")
		b.open("/r/team/secret")
		got := b.clickTo(`form[action$="/-/star"] button`, "Starred")
		uiContains(t, "after star", got, []string{"1 star"}, nil)
		got = b.clickTo(`form[action$="/-/star"] button`, "☆ Star")
		uiContains(t, "after unstar", got, []string{"0 stars"}, nil)
	})

	t.Run("delete a tag with the warning", func(t *testing.T) {
		b := uiNewBrowser(t, bin, s.URL, false)
		b.login("alice")
		b.open("/r/library/app")
		conf := b.clickTo(`a[href="/r/library/app/-/delete?ref=latest"]`, "Delete the tag latest")
		uiContains(t, "confirmation", conf, []string{"under its other tags: stable", "every tag that points at it: latest, stable"}, nil)
		done := b.clickTo(`form button.danger[type=submit]`, "Deleted latest.")
		if strings.Contains(done, "latest\t") {
			t.Errorf("latest still listed:\n%s", done)
		}
		uiContains(t, "after delete", done, []string{"stable"}, nil)
		if r := auDo(t, auReq{Method: http.MethodGet, URL: s.URL + "/v2/library/app/manifests/latest", User: "alice", Pass: auUsers["alice"]}); r.Status != 404 {
			t.Errorf("latest after the UI deleted it: %d", r.Status)
		}
		// bob may not delete in library/*: no link, and the page refuses.
		bob := uiNewBrowser(t, bin, s.URL, false)
		bob.login("bob")
		uiContains(t, "library as bob", bob.open("/r/library/app"), nil, []string{"Delete"})
		uiContains(t, "delete page as bob", bob.open("/r/library/app/-/delete?ref=stable"), []string{"You may not do this here"}, nil)
	})

	t.Run("JavaScript off", func(t *testing.T) {
		b := uiNewBrowser(t, bin, s.URL, true)
		uiContains(t, "home", b.open("/"), []string{"library/app"}, nil)
		b.do(chromedp.SendKeys(chromedp.CSS("#q"), "app"))
		uiContains(t, "search", b.clickTo("form.search button[type=submit]", "found"), []string{"library/app"}, nil)
		repo := b.open("/r/library/multi")
		uiContains(t, "repository", repo, []string{"docker pull " + host + "/library/multi:1.0", "linux/amd64, linux/arm64"}, []string{"Copy", "Filter tags"})
		uiContains(t, "index", b.open("/r/library/multi/-/manifest/1.0"), []string{"Platforms"}, nil)
		b.login("bob")
		b.open("/r/team/secret")
		b.clickTo(`form[action$="/-/star"] button`, "Starred")
		b.clickTo(`form[action$="/-/star"] button`, "☆ Star")
	})

	t.Run("hostile content stays text", func(t *testing.T) {
		b := uiNewBrowser(t, bin, s.URL, false)
		for _, p := range []string{"/", "/r/evil/xss", "/r/evil/xss/-/manifest/latest", "/search?q=" + `%22%3E%3Cscript%3Ealert(1)%3C/script%3E`} {
			text := b.open(p)
			scripts := uiRun(b, chromedp.Evaluate[int](`document.querySelectorAll("script").length`))
			handlers := uiRun(b, chromedp.Evaluate[int](`document.querySelectorAll("[onerror],[onload],[onclick]").length`))
			jsLinks := uiRun(b, chromedp.Evaluate[int](`[...document.querySelectorAll("a[href]")].filter(a => a.href.startsWith("javascript:")).length`))
			if scripts != 1 || handlers != 0 || jsLinks != 0 {
				t.Errorf("%s: %d scripts (want 1, app.js), %d inline handlers, %d javascript: links", p, scripts, handlers, jsLinks)
			}
			if p == "/r/evil/xss" {
				uiContains(t, p, text, []string{`<script>alert("desc")</script>`, "Overview", "fine"}, nil)
			}
		}
		if n := b.dialogs.Load(); n != 0 {
			t.Errorf("hostile content ran: %d dialogs", n)
		}
		// The control: a dialog the page does open is seen.
		b.do(chromedp.Evaluate[chromedp.Void](`setTimeout(() => alert("control"), 0)`))
		for i := 0; i < 100 && b.dialogs.Load() == 0; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if n := b.dialogs.Load(); n != 1 {
			t.Errorf("the control dialog was counted %d times, want 1: the check above sees nothing", n)
		}
	})

	t.Run("accessibility", func(t *testing.T) {
		uiAxe(t, bin, site)
	})
}

// uiAxe runs axe-core on the main pages, light and dark, and fails on
// serious or critical violations; with WHARF_UI_SCREENSHOTS it saves
// screenshots too.
func uiAxe(t *testing.T, bin testenv.Browser, site uiSite) {
	src, err := os.ReadFile(bin.Axe)
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	shots := os.Getenv("WHARF_UI_SCREENSHOTS")
	pages := []struct{ name, path string }{
		{"home", "/"}, {"search", "/search?q=app"}, {"repository", "/r/library/app"},
		{"index", "/r/library/multi/-/manifest/1.0"}, {"manifest", "/r/library/app/-/manifest/stable"},
		{"login", "/login"}, {"notfound", "/r/nothing/here"}, {"overview", "/r/evil/xss"},
		{"delete", "/r/library/app/-/delete?ref=stable"}, {"no-results", "/search?q=zzzz"},
	}
	for _, scheme := range []string{"light", "dark"} {
		b := uiNewBrowser(t, bin, site.s.URL, false)
		b.login("alice")
		b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			return err
		}))
		for _, p := range pages {
			b.open(p.path)
			b.do(chromedp.Evaluate[chromedp.Void](string(src) + ";undefined"))
			out := uiRun(b, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
				JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
					.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))))`,
				chromedp.EvalAwaitPromise))
			if out != "[]" {
				t.Errorf("axe on %s (%s): %s", p.path, scheme, out)
			}
			if shots != "" && (p.name == "home" || p.name == "repository" || p.name == "index" || p.name == "manifest") {
				png := uiRun(b, chromedp.FullScreenshot(100))
				if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("ui-%s-%s.png", p.name, scheme)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestUIMount: a real server serves the UI at / and leaves the API's
// paths alone; ui.disabled turns it off.
func TestUIMount(t *testing.T) {
	tests := []struct {
		name     string
		extra    string
		wantHome int
	}{
		{"enabled", "", http.StatusOK},
		{"disabled", "ui:\n  disabled: true\n", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{ExtraConfig: tt.extra})
			home := whDo(t, http.MethodGet, s.URL+"/", nil, nil)
			if home.Status != tt.wantHome {
				t.Fatalf("GET /: %s", home)
			}
			if tt.wantHome == http.StatusOK {
				if ct := home.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") ||
					!strings.Contains(home.Header.Get("Content-Security-Policy"), "default-src 'none'") {
					t.Errorf("GET /: %s, CSP %q", ct, home.Header.Get("Content-Security-Policy"))
				}
			} else if ct := home.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("GET / with the UI off: %s, want the API's JSON 404", ct)
			}
			for path, want := range map[string]int{"/v2/": 200, "/v2/_catalog": 200, "/_ping": 200, "/auth/token": 404, "/nope": 404} {
				r := whDo(t, http.MethodGet, s.URL+path, nil, nil)
				if r.Status != want || strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
					t.Errorf("GET %s: %d %s, want %d from the API", path, r.Status, r.Header.Get("Content-Type"), want)
				}
			}
		})
	}
}
