package gcs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/googleapi"
	storage "google.golang.org/api/storage/v1"
)

// Retries of transient failures, with the backoff Google's client
// libraries use (1 s doubling to 30 s, jittered), but bounded in count.
const (
	retryAttempts = 6
	retryInitial  = time.Second
	retryMax      = 30 * time.Second
)

const octetStream = "application/octet-stream"

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// errNotExist is a 404 from the service, mapped by the callers.
var errNotExist = errors.New("gcs: no such object")

// notFound turns a 404 into errNotExist and leaves other errors alone.
func notFound(err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		return errNotExist
	}
	return err
}

// transient reports whether err is worth another try: 408, 429 and 5xx
// answers, and connections that broke or were refused.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code == http.StatusRequestTimeout || ge.Code == http.StatusTooManyRequests || (ge.Code >= 500 && ge.Code < 600)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &oe) {
		if errors.Is(err, io.EOF) {
			return true
		}
		msg := err.Error()
		for _, s := range []string{"connection refused", "connection reset", "broken pipe", "server closed idle connection", "client connection lost"} {
			if strings.Contains(msg, s) {
				return true
			}
		}
	}
	return false
}

// backoff is the pause before retry attempt n (1-based).
func backoff(n int) time.Duration {
	d := retryInitial << (n - 1)
	if d <= 0 || d > retryMax {
		d = retryMax
	}
	// Full jitter over the upper half keeps clients from retrying in step.
	return d/2 + rand.N(d/2+1)
}

// retry runs fn, again after transient failures when idempotent (the
// request has the same effect however often it lands), at most
// retryAttempts times and while ctx lasts.
func retry(ctx context.Context, idempotent bool, fn func() error) error {
	for n := 1; ; n++ {
		err := fn()
		if err == nil || !idempotent || n >= retryAttempts || !transient(err) {
			return err
		}
		t := time.NewTimer(backoff(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// objectSize returns key's size; errNotExist when there is none.
func (s *Store) objectSize(ctx context.Context, key string) (int64, error) {
	var o *storage.Object
	err := retry(ctx, true, func() (err error) {
		o, err = s.svc.Objects.Get(s.bucketName, key).Fields("size").Context(ctx).Do()
		return err
	})
	if err != nil {
		return 0, notFound(err)
	}
	return int64(o.Size), nil
}

// insert writes data as object key in one request. With ifAbsent, the
// condition that the object does not exist yet makes the write idempotent,
// so it is retried on transient errors; an unconditional write is not.
// The CRC32C sent along lets the service refuse bytes damaged on the way.
func (s *Store) insert(ctx context.Context, key string, data []byte, ifAbsent bool) error {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(data, crc32cTable))
	return retry(ctx, ifAbsent, func() error {
		obj := &storage.Object{Name: key, ContentType: octetStream, Crc32c: base64.StdEncoding.EncodeToString(sum[:])}
		call := s.svc.Objects.Insert(s.bucketName, obj).
			Media(bytes.NewReader(data), googleapi.ChunkSize(0), googleapi.ContentType(octetStream)).
			Fields("name").Context(ctx)
		if ifAbsent {
			call.IfGenerationMatch(0)
		}
		_, err := call.Do()
		return err
	})
}

// composeObjects makes dst the concatenation of keys on the service. With
// ifAbsent the request is conditional on dst not existing, so it is
// retried on transient errors.
func (s *Store) composeObjects(ctx context.Context, dst string, keys []string, ifAbsent, deleteSources bool) error {
	req := &storage.ComposeRequest{
		Destination:         &storage.Object{Bucket: s.bucketName, Name: dst, ContentType: octetStream},
		DeleteSourceObjects: deleteSources,
	}
	for _, k := range keys {
		req.SourceObjects = append(req.SourceObjects, &storage.ComposeRequestSourceObjects{Name: k})
	}
	err := retry(ctx, ifAbsent, func() error {
		call := s.svc.Objects.Compose(s.bucketName, dst, req).Fields("name").Context(ctx)
		if ifAbsent {
			call.IfGenerationMatch(0)
		}
		_, err := call.Do()
		return err
	})
	if err != nil {
		return fmt.Errorf("compose %s: %w", dst, err)
	}
	return nil
}

// deleteObject removes key. Without a generation to pin, a delete is not
// idempotent (a retry could remove a newer object), so it is not retried.
func (s *Store) deleteObject(ctx context.Context, key string) error {
	return notFound(s.svc.Objects.Delete(s.bucketName, key).Context(ctx).Do())
}

// listed is what a listing tells of one object, or of one common prefix
// (name ends with the delimiter, no size).
type listed struct {
	Name    string
	Size    int64
	Updated time.Time
}

// listPages calls fn for every object under prefix and then, with a
// delimiter, for the common prefixes, page by page (in the service's
// order); max > 0 stops after the first page of at most max objects.
func (s *Store) listPages(ctx context.Context, prefix, delimiter string, max int64, fn func(l listed) error) error {
	token := ""
	for {
		call := s.svc.Objects.List(s.bucketName).Prefix(prefix).
			Fields("nextPageToken", "prefixes", "items(name,size,updated)").Context(ctx)
		if delimiter != "" {
			call.Delimiter(delimiter)
		}
		if max > 0 {
			call.MaxResults(max)
		}
		if token != "" {
			call.PageToken(token)
		}
		var page *storage.Objects
		err := retry(ctx, true, func() (err error) {
			page, err = call.Do()
			return err
		})
		if err != nil {
			return err
		}
		for _, o := range page.Items {
			t, _ := time.Parse(time.RFC3339Nano, o.Updated)
			if err := fn(listed{Name: o.Name, Size: int64(o.Size), Updated: t}); err != nil {
				return err
			}
		}
		for _, p := range page.Prefixes {
			if err := fn(listed{Name: p}); err != nil {
				return err
			}
		}
		if token = page.NextPageToken; token == "" || max > 0 {
			return nil
		}
	}
}

// objectReader reads key from off, to end (-1: the object's end). A
// connection that breaks mid-way is reopened where it stopped, pinned to
// the generation first read; a whole-object read checks the CRC32C the
// service sent.
type objectReader struct {
	ctx  context.Context
	s    *Store
	key  string
	gen  int64
	off  int64
	end  int64
	body io.ReadCloser

	whole   bool
	crc     hash.Hash32
	wantCRC string
	reopens int
}

// openObject opens length bytes of key from off (-1: to the end); the
// first request is made here, so a missing object is errNotExist now.
func (s *Store) openObject(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	r := &objectReader{ctx: ctx, s: s, key: key, off: off, end: -1, whole: off == 0 && length < 0}
	if length >= 0 {
		r.end = off + length
	}
	if err := retry(ctx, true, r.open); err != nil {
		return nil, notFound(err)
	}
	return r, nil
}

func (r *objectReader) open() error {
	call := r.s.svc.Objects.Get(r.s.bucketName, r.key).Context(r.ctx)
	if r.gen != 0 {
		call.Generation(r.gen)
	}
	switch {
	case r.end >= 0:
		call.Header().Set("Range", fmt.Sprintf("bytes=%d-%d", r.off, r.end-1))
	case r.off > 0:
		call.Header().Set("Range", fmt.Sprintf("bytes=%d-", r.off))
	}
	if r.end == r.off {
		// Nothing to read: a zero-length range is not expressible.
		r.body = io.NopCloser(strings.NewReader(""))
		return nil
	}
	resp, err := call.Download()
	if err != nil {
		return err
	}
	if r.off > 0 && resp.StatusCode == http.StatusOK {
		// The range was ignored: skip to off.
		if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
			resp.Body.Close()
			return fmt.Errorf("read %s: skip to %d: %w", r.key, r.off, err)
		}
	}
	if r.gen == 0 {
		r.gen, _ = strconv.ParseInt(resp.Header.Get("X-Goog-Generation"), 10, 64)
		if r.whole && !resp.Uncompressed && resp.Header.Get("Content-Encoding") == "" {
			r.wantCRC = hashHeader(resp.Header, "crc32c")
			if r.wantCRC != "" {
				r.crc = crc32.New(crc32cTable)
			}
		}
	}
	r.body = resp.Body
	return nil
}

// hashHeader returns the value of kind in X-Goog-Hash ("crc32c=...,md5=...").
func hashHeader(h http.Header, kind string) string {
	for _, v := range h.Values("X-Goog-Hash") {
		for _, kv := range strings.Split(v, ",") {
			if k, val, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == kind {
				return val
			}
		}
	}
	return ""
}

func (r *objectReader) Read(p []byte) (int, error) {
	for {
		if r.end >= 0 {
			if r.off >= r.end {
				return 0, io.EOF
			}
			p = p[:min(int64(len(p)), r.end-r.off)]
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, fmt.Errorf("read %s at %d: %w", r.key, r.off, notFound(err))
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if r.crc != nil {
			r.crc.Write(p[:n])
		}
		if err == io.EOF {
			if r.end >= 0 && r.off < r.end {
				err = io.ErrUnexpectedEOF
			} else {
				return n, r.checkCRC()
			}
		}
		if err == nil || !transient(err) || r.reopens >= retryAttempts-1 {
			return n, err
		}
		// Reopen where the broken body stopped.
		r.body.Close()
		r.body = nil
		r.reopens++
		t := time.NewTimer(backoff(r.reopens))
		select {
		case <-r.ctx.Done():
			t.Stop()
			return n, errors.Join(err, r.ctx.Err())
		case <-t.C:
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *objectReader) checkCRC() error {
	if r.crc == nil {
		return io.EOF
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], r.crc.Sum32())
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != r.wantCRC {
		return fmt.Errorf("read %s: CRC32C %s, the service says %s", r.key, got, r.wantCRC)
	}
	r.crc = nil
	return io.EOF
}

func (r *objectReader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}
