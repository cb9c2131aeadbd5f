package e2e

// Crash and restart behaviour: what a push that was acknowledged must
// survive (kill -9), what an interrupted one may leave behind (nothing
// visible but whole blobs), and that a graceful stop drains and restarts.

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestCrashResumeUploadAfterKill: half an upload, kill -9, restart on the
// same root, the session resumes at the same offset and completes.
func TestCrashResumeUploadAfterKill(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const repo = "crash/resume"
	data := whRandBytes(7, 3<<20+12345)
	dg := whDigest(data)
	half := len(data) / 2

	loc := whStartUpload(t, s, repo)
	r := whDo(t, http.MethodPatch, loc, map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("0-%d", half-1),
	}, data[:half])
	if r.Status != http.StatusAccepted {
		t.Fatalf("PATCH first half: %s, want 202", r)
	}
	if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", half-1); got != want {
		t.Errorf("PATCH Range %q, want %q", got, want)
	}
	loc = whResolve(t, s, r.Header.Get("Location"))

	s.Restart() // SIGKILL, then start on the same root and port

	r = whDo(t, http.MethodGet, loc, nil, nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("upload status after restart: %s, want 204\nserver log:\n%s", r, s.Log.String())
	}
	if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", half-1); got != want {
		t.Fatalf("upload Range after restart %q, want %q", got, want)
	}
	if l := r.Header.Get("Location"); l != "" {
		loc = whResolve(t, s, l)
	}
	r = whDo(t, http.MethodPatch, loc, map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", half, len(data)-1),
	}, data[half:])
	if r.Status != http.StatusAccepted {
		t.Fatalf("PATCH second half: %s, want 202", r)
	}
	loc = whResolve(t, s, r.Header.Get("Location"))
	r = whDo(t, http.MethodPut, whWithQuery(loc, "digest", dg), map[string]string{"Content-Type": "application/octet-stream"}, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT after resume: %s, want 201", r)
	}
	if got := r.Header.Get("Docker-Content-Digest"); got != dg {
		t.Errorf("PUT Docker-Content-Digest %q, want %s", got, dg)
	}
	if err := whCheckBlob(t, s, repo, dg, int64(len(data))); err != nil {
		t.Error(err)
	}
	// And after one more crash it is still there: the commit was durable.
	s.Restart()
	if err := whCheckBlob(t, s, repo, dg, int64(len(data))); err != nil {
		t.Errorf("after second restart: %v", err)
	}
}

// TestCrashKillMidBlob kills the server while a blob's bytes are streaming
// in, by PATCH and by monolithic PUT. After the restart the blob must not be
// visible, the session must either resume consistently from the offset it
// reports or be gone, and every blob file must hash to its name.
func TestCrashKillMidBlob(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	// One finished image, so the blob store is not empty.
	img := whRandomImage(t, 4096, 1)
	whPush(t, s, "crash/mid:base", img)

	cases := []struct {
		name   string
		method string
	}{
		{"PATCH", http.MethodPatch},
		{"monolithic PUT", http.MethodPut},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const repo = "crash/mid"
			data := whRandBytes(uint64(100+i), 24<<20)
			dg := whDigest(data)
			sent := 12 << 20
			loc := whStartUpload(t, s, repo)
			u := loc
			if c.method == http.MethodPut {
				u = whWithQuery(loc, "digest", dg)
			}
			whKillDuring(t, s, c.method, u, data, sent, 300*time.Millisecond)
			s.Restart()

			if r := whDo(t, http.MethodHead, s.URL+"/v2/"+repo+"/blobs/"+dg, nil, nil); r.Status != http.StatusNotFound {
				t.Errorf("HEAD of interrupted blob after restart: %d, want 404", r.Status)
			}
			whCheckBlobFiles(t, s.Root)

			st := whDo(t, http.MethodGet, loc, nil, nil)
			offset := 0
			switch st.Status {
			case http.StatusNotFound:
				whExpectError(t, "upload status after kill", st, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
				loc = whStartUpload(t, s, repo)
			case http.StatusNoContent:
				rng := st.Header.Get("Range")
				var lo, hi int
				if _, err := fmt.Sscanf(rng, "%d-%d", &lo, &hi); err != nil || lo != 0 {
					t.Fatalf("upload status Range %q", rng)
				}
				if hi > 0 {
					offset = hi + 1
				}
				if offset > sent {
					t.Fatalf("upload reports %d bytes after kill, only %d were sent", offset, sent)
				}
				if l := st.Header.Get("Location"); l != "" {
					loc = whResolve(t, s, l)
				}
				t.Logf("session resumes at offset %d of %d sent", offset, sent)
			default:
				t.Fatalf("upload status after kill: %s, want 204 or 404%s", st, whLogIf5xx(s, st))
			}
			r := whDo(t, http.MethodPatch, loc, map[string]string{
				"Content-Type":  "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", offset, len(data)-1),
			}, data[offset:])
			if r.Status != http.StatusAccepted {
				t.Fatalf("PATCH from offset %d: %s, want 202%s", offset, r, whLogIf5xx(s, r))
			}
			loc = whResolve(t, s, r.Header.Get("Location"))
			r = whDo(t, http.MethodPut, whWithQuery(loc, "digest", dg), nil, nil)
			if r.Status != http.StatusCreated {
				t.Fatalf("PUT after resuming at %d: %s, want 201 (stored bytes disagree with the reported offset?)%s",
					offset, r, whLogIf5xx(s, r))
			}
			if err := whCheckBlob(t, s, repo, dg, int64(len(data))); err != nil {
				t.Error(err)
			}
			whVerifyImage(t, s, "crash/mid:base", img)
		})
	}
}

// crashAttempt is one push of the concurrent crash test.
type crashAttempt struct {
	ref  string
	img  v1.Image
	done bool // remote.Write returned nil
}

// TestCrashKillDuringPushes kills the server while several clients push,
// then checks every acknowledged push, every interrupted one and the files
// in the blob store.
func TestCrashKillDuringPushes(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const (
		workers   = 4
		maxImages = 40
		killAfter = 10 // acknowledged pushes before the kill...
	)
	killBy := 8 * time.Second // ...or this much time, whichever first
	budget := 20 * time.Second

	// Everything a worker needs is made here, on the test goroutine.
	jobs := make(chan *crashAttempt, maxImages)
	var attempts []*crashAttempt
	for i := range maxImages {
		a := &crashAttempt{ref: fmt.Sprintf("crash/w%d:i%d", i%workers, i), img: whRandomImage(t, 256<<10, 3)}
		attempts = append(attempts, a)
		jobs <- a
	}
	close(jobs)
	refs := map[*crashAttempt]name.Reference{}
	for _, a := range attempts {
		refs[a] = whRef(t, s, a.ref)
	}
	pushCtx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	opts := whRemote(t, remote.WithContext(pushCtx), remote.WithJobs(2))

	var mu sync.Mutex
	var started atomic.Int32
	acked := 0
	ackedCh := make(chan struct{}, maxImages)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range jobs {
				if pushCtx.Err() != nil {
					return
				}
				started.Add(1)
				if err := remote.Write(refs[a], a.img, opts...); err == nil {
					mu.Lock()
					a.done = true
					acked++
					mu.Unlock()
					ackedCh <- struct{}{}
				}
			}
		}()
	}

	deadline := time.After(killBy)
wait:
	for n := 0; n < killAfter; n++ {
		select {
		case <-ackedCh:
		case <-deadline:
			break wait
		}
	}
	s.Kill()
	cancel()
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()
	select {
	case <-workersDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("push workers did not stop within 30s of the kill")
	}
	mu.Lock()
	t.Logf("%d pushes acknowledged before kill -9, %d started", acked, int(started.Load()))
	mu.Unlock()
	if acked == 0 {
		t.Fatalf("no push succeeded before the kill\nserver log:\n%s", s.Log.String())
	}

	s.Restart()

	interrupted := 0
	for _, a := range attempts {
		want, _ := a.img.Digest()
		if a.done {
			if err := whCheckImage(t, s, a.ref, a.img); err != nil {
				t.Errorf("acknowledged push %s lost or damaged after kill -9: %v", a.ref, err)
			}
			continue
		}
		// Interrupted or never started: absent, or present and whole.
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+whRepoOf(a.ref)+"/manifests/"+a.ref[strings.LastIndex(a.ref, ":")+1:],
			map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, nil)
		switch r.Status {
		case http.StatusNotFound:
			whExpectError(t, "GET unfinished "+a.ref, r, http.StatusNotFound, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")
		case http.StatusOK:
			interrupted++
			if whDigest(r.Body) != want.String() {
				t.Errorf("unfinished push %s: manifest %s, want %s", a.ref, whDigest(r.Body), want)
			} else if err := whCheckImage(t, s, a.ref, a.img); err != nil {
				t.Errorf("unfinished push %s has a manifest but is incomplete: %v", a.ref, err)
			}
		default:
			t.Errorf("GET unfinished %s: %s, want 404 or a complete image", a.ref, r)
		}
	}
	t.Logf("%d unacknowledged pushes had nonetheless completed", interrupted)

	whCheckBlobFiles(t, s.Root)

	// The registry still takes pushes after the crash.
	img := whRandomImage(t, 4096, 2)
	whPush(t, s, "crash/after:v1", img)
	whVerifyImage(t, s, "crash/after:v1", img)
}

// whCheckBlobFiles walks <root>/blobs and hashes every file that sits under
// a final blob key (<alg>/<2 hex>/<hex>, or distribution's <hex>/data), and
// every blob kept inline in the metadata store: each must hash to its own
// name, so no partial blob is ever visible. Other files (uploads in
// progress, temporary files) are listed in the log.
func whCheckBlobFiles(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "blobs")
	verified := 0
	var other []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		hexName := parts[len(parts)-1]
		if hexName == "data" && len(parts) >= 2 {
			hexName = parts[len(parts)-2]
		}
		alg := ""
		for _, part := range parts {
			if part == "sha256" || part == "sha512" {
				alg = part
			}
		}
		var h hash.Hash
		switch {
		case alg == "sha256" && whIsHex(hexName, 64):
			h = sha256.New()
		case alg == "sha512" && whIsHex(hexName, 128):
			h = sha512.New()
		default:
			other = append(other, rel)
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != hexName {
			t.Errorf("blob file %s hashes to %s:%s: a partial or corrupt blob is visible", rel, alg, got)
		}
		verified++
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	for d, content := range whInlineBlobs(t, root) {
		if got := whDigestOf(d, content); got != d {
			t.Errorf("inline blob %s hashes to %s: a partial or corrupt blob is visible", d, got)
		}
		verified++
	}
	t.Logf("blob store: %d blobs verified (files and inline), %d other files %v", verified, len(other), whFirst(other, 10))
	if verified == 0 {
		t.Errorf("no blob files found under %s in the layout blobs/<alg>/<ab>/<hex>; other files: %v", dir, whFirst(other, 20))
	}
}

func whIsHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func whFirst(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestCrashGracefulStop: SIGTERM drains an in-flight upload, the process
// exits, and a restart serves everything.
func TestCrashGracefulStop(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	img := whRandomImage(t, 8192, 2)
	whPush(t, s, "graceful/img:v1", img)

	t.Run("stop and restart", func(t *testing.T) {
		s.Stop()
		if resp, err := http.Get(s.URL + "/v2/"); err == nil {
			resp.Body.Close()
			t.Errorf("server still answers after Stop: %d", resp.StatusCode)
		}
		s.Restart()
		whVerifyImage(t, s, "graceful/img:v1", img)
	})

	t.Run("in-flight PATCH completes during shutdown", func(t *testing.T) {
		data := whRandBytes(11, 2<<20)
		dg := whDigest(data)
		loc := whStartUpload(t, s, "graceful/upload")
		pr, pw := io.Pipe()
		req, _ := http.NewRequestWithContext(ctx(t), http.MethodPatch, loc, pr)
		req.ContentLength = int64(len(data))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", "0-"+strconv.Itoa(len(data)-1))
		type result struct {
			r   whResp
			err error
		}
		res := make(chan result, 1)
		go func() {
			resp, err := whHTTP.Do(req)
			if err != nil {
				res <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			res <- result{r: whResp{Status: resp.StatusCode, Header: resp.Header, Body: b}}
		}()
		if _, err := pw.Write(data[:len(data)/2]); err != nil {
			t.Fatalf("writing first half: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // let the handler start reading
		s.cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond) // shutdown has begun
		_, werr := pw.Write(data[len(data)/2:])
		pw.Close()
		var got result
		select {
		case got = <-res:
		case <-time.After(60 * time.Second):
			t.Fatalf("in-flight PATCH got no answer within 60s")
		}
		if werr != nil || got.err != nil || got.r.Status != http.StatusAccepted {
			t.Errorf("in-flight PATCH during SIGTERM: write err %v, request err %v, response %s; want 202",
				werr, got.err, got.r)
		}
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("wharf did not exit after SIGTERM")
		}
		s.Restart()
		if got.r.Status != http.StatusAccepted {
			return
		}
		loc = whResolve(t, s, got.r.Header.Get("Location"))
		r := whDo(t, http.MethodPut, whWithQuery(loc, "digest", dg), nil, nil)
		if r.Status != http.StatusCreated {
			t.Fatalf("PUT after graceful restart: %s, want 201", r)
		}
		if err := whCheckBlob(t, s, "graceful/upload", dg, int64(len(data))); err != nil {
			t.Error(err)
		}
		whVerifyImage(t, s, "graceful/img:v1", img)
	})
}

// whKillDuring sends method (PATCH, declared whole with Content-Range
// 0-(len-1), or a monolithic PUT) with data as the body to u, kills s once
// sent bytes went out and settle has passed for the server to store them,
// and returns when the request has failed.
func whKillDuring(t testing.TB, s *Server, method, u string, data []byte, sent int, settle time.Duration) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx(t), method, u, pr)
	req.ContentLength = int64(len(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	if method == http.MethodPatch {
		req.Header.Set("Content-Range", "0-"+strconv.Itoa(len(data)-1))
	}
	done := make(chan error, 1)
	go func() {
		resp, err := whHTTP.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("request finished with %d before the kill", resp.StatusCode)
		}
		done <- err
	}()
	if _, err := pw.Write(data[:sent]); err != nil {
		t.Fatalf("streaming the first %d bytes: %v", sent, err)
	}
	time.Sleep(settle)
	s.Kill()
	pw.CloseWithError(io.ErrClosedPipe)
	select {
	case err := <-done:
		t.Logf("interrupted %s: %v", method, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("interrupted %s did not return within 30s", method)
	}
}
