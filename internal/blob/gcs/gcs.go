// Package gcs is wharf's blob store on Google Cloud Storage (and
// fake-gcs-server).
//
// Keys under the root directory of the bucket:
//
//	blobs/<alg>/<hex[:2]>/<hex>   committed blobs
//	uploads/<id>/p-<random>       the parts of upload id
//
// An upload is a list of part objects, each at most ChunkSize bytes and
// durable once written; the UploadState (JSON) lists them in order, so any
// node continues the upload. A resumable upload session would hold the
// bytes too, but GCS cannot read back an unfinished one (needed to re-hash
// or cut an upload) and it fixes the object name before the digest is
// known; parts can be read at any time, and the commit composes them on the
// service into the final key, where a compose makes the object appear
// complete at once: no copy, no bytes through wharf.
package gcs

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/auth/credentials"
	"github.com/opencontainers/go-digest"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/wharf-registry/wharf/internal/blob"
)

// Defaults and limits.
const (
	// DefaultChunkSize is distribution's default storage.gcs.chunksize.
	DefaultChunkSize = 5 << 20
	// ChunkUnit is what ChunkSize must be a multiple of (GCS's upload
	// granularity, kept for distribution's configurations).
	ChunkUnit = 256 << 10
	// DefaultRedirectExpiry is how long a signed blob URL is valid.
	DefaultRedirectExpiry = 20 * time.Minute

	// maxCompose is the most sources one compose request takes.
	maxCompose = 32
	// cleanupTimeout bounds the best-effort removal of upload parts.
	cleanupTimeout = time.Minute
	// emulatorEnv is where Google's client libraries find an emulator.
	emulatorEnv = "STORAGE_EMULATOR_HOST"
)

// Options configures a GCS blob store; it mirrors storage.gcs.
type Options struct {
	Bucket string
	// KeyFile is a service account key file; CredentialsJSON the same
	// content inline. Neither: Application Default Credentials.
	KeyFile         string
	CredentialsJSON []byte
	RootDirectory   string
	// ChunkSize is the size of upload parts (0: DefaultChunkSize), a
	// multiple of ChunkUnit.
	ChunkSize int64
	// RedirectExpiry is how long signed URLs are valid (0: 20 minutes).
	RedirectExpiry time.Duration
}

// Store keeps blobs in one bucket.
type Store struct {
	// svc is Google's generated client of the Cloud Storage JSON API:
	// plain HTTP; cloud.google.com/go/storage would link gRPC's xDS and
	// envoy's protobufs, whose package init costs ~20 MB of idle RSS.
	svc            *storage.Service
	bucketName     string
	prefix         string
	chunkSize      int64
	redirectExpiry time.Duration
	sign           *signer
	// legacy is set when registry:2's blobs were found under the root at
	// start.
	legacy bool
}

var (
	_ blob.Store      = (*Store)(nil)
	_ blob.Redirector = (*Store)(nil)
	_ blob.ChunkSizer = (*Store)(nil)
	_ blob.Tree       = (*Store)(nil)
)

// New connects to the bucket opts names and checks that it exists. With
// STORAGE_EMULATOR_HOST set, requests go to that emulator unauthenticated
// (as in every Google client library); a key file still signs URLs.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("gcs: no bucket configured")
	}
	chunk := opts.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	if chunk < 0 || chunk%ChunkUnit != 0 {
		return nil, fmt.Errorf("gcs: chunksize %d is not a positive multiple of %d", chunk, ChunkUnit)
	}
	key := opts.CredentialsJSON
	if opts.KeyFile != "" {
		var err error
		if key, err = os.ReadFile(opts.KeyFile); err != nil {
			return nil, fmt.Errorf("gcs: keyfile: %w", err)
		}
	}
	s := &Store{
		bucketName:     opts.Bucket,
		prefix:         rootPrefix(opts.RootDirectory),
		chunkSize:      chunk,
		redirectExpiry: opts.RedirectExpiry,
	}
	if s.redirectExpiry <= 0 {
		s.redirectExpiry = DefaultRedirectExpiry
	}
	svc, sign, err := newService(ctx, key)
	if err != nil {
		return nil, err
	}
	s.svc, s.sign = svc, sign
	err = retry(ctx, true, func() error {
		_, err := s.svc.Buckets.Get(opts.Bucket).Fields("name").Context(ctx).Do()
		return err
	})
	if err != nil {
		if notFound(err) == errNotExist {
			return nil, fmt.Errorf("gcs: bucket %q does not exist", opts.Bucket)
		}
		return nil, fmt.Errorf("gcs: checking bucket %q: %w", opts.Bucket, err)
	}
	if s.legacy, err = s.hasLegacy(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newService builds the JSON API client and the URL signer. A key (file or
// inline) authenticates as its service account and signs with its private
// key; without one, Application Default Credentials authenticate, and the
// account they name (or Compute Engine's) signs through IAM. The emulator
// is reached unauthenticated.
func newService(ctx context.Context, key []byte) (*storage.Service, *signer, error) {
	g := &signer{host: "storage.googleapis.com", scheme: "https"}
	emulator := EmulatorURL()
	var copts []option.ClientOption
	if emulator != "" {
		u, err := url.Parse(emulator)
		if err != nil {
			return nil, nil, fmt.Errorf("gcs: %s: %w", emulatorEnv, err)
		}
		g.host, g.scheme = u.Host, u.Scheme
		copts = append(copts, option.WithoutAuthentication())
	}
	if len(key) > 0 {
		var k accountKey
		if err := json.Unmarshal(key, &k); err != nil {
			return nil, nil, fmt.Errorf("gcs: credentials are not a JSON key: %w", err)
		}
		g.email = k.Email
		if k.PrivateKey != "" {
			// A key that does not parse fails the signing, as it did
			// with the client library, not the start.
			g.key, g.keyErr = parsePrivateKey(k.PrivateKey)
		}
		if emulator == "" {
			g.credsJSON = key
			copts = append(copts, option.WithAuthCredentialsJSON(option.ServiceAccount, key))
		}
	} else if emulator == "" {
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: scopes()})
		if err != nil {
			return nil, nil, fmt.Errorf("gcs: client: %w", err)
		}
		g.credsJSON = creds.JSON()
		copts = append(copts, option.WithAuthCredentials(creds))
	}
	copts = append(copts, option.WithScopes(scopes()...))
	g.copts = copts
	sopts := copts
	if emulator != "" {
		sopts = append(sopts[:len(sopts):len(sopts)], option.WithEndpoint(emulator+"/storage/v1/"))
	}
	svc, err := storage.NewService(ctx, sopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("gcs: client: %w", err)
	}
	return svc, g, nil
}

// scopes are those Google's storage client library asks for.
func scopes() []string {
	return []string{storage.DevstorageFullControlScope, storage.CloudPlatformScope}
}

func rootPrefix(root string) string {
	p := strings.Trim(root, "/")
	if p != "" {
		p += "/"
	}
	return p
}

// MinChunkSize implements blob.ChunkSizer: chunks of a part or more are
// stored in whole parts.
func (s *Store) MinChunkSize() int64 { return s.chunkSize }

// Keys.

func (s *Store) blobKey(d digest.Digest) string {
	hex := d.Encoded()
	return s.prefix + "blobs/" + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex
}

func (s *Store) uploadPrefix(id string) string { return s.prefix + "uploads/" + id + "/" }

// newPartKey names a new part of upload id. Names are random, so a write
// from a stale state never overwrites a part a later state holds.
func (s *Store) newPartKey(id, kind string) string {
	var b [9]byte
	crand.Read(b[:])
	return s.uploadPrefix(id) + kind + "-" + hex.EncodeToString(b[:])
}

func checkUploadID(id string) error {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return fmt.Errorf("upload id %q: %w", id, blob.ErrNotFound)
	}
	return nil
}

// Upload state.

type uploadState struct {
	Parts []part `json:"parts"`
}

type part struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

func (st *uploadState) end() int64 {
	var n int64
	for _, p := range st.Parts {
		n += p.Size
	}
	return n
}

func decodeState(id string, state blob.UploadState) (*uploadState, error) {
	st := &uploadState{}
	if len(state) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(state, st); err != nil {
		return nil, fmt.Errorf("upload %s: bad GCS upload state: %w", id, err)
	}
	return st, nil
}

func (st *uploadState) encode() (blob.UploadState, error) {
	if len(st.Parts) == 0 {
		return nil, nil
	}
	return json.Marshal(st)
}

// Errors.

// full marks err with blob.ErrFull when GCS refused a write for lack of
// space or quota.
func full(err error) error {
	var ge *googleapi.Error
	if err == nil || errors.Is(err, blob.ErrFull) || !errors.As(err, &ge) {
		return err
	}
	if ge.Code == http.StatusInsufficientStorage || (ge.Code == http.StatusForbidden && strings.Contains(strings.ToLower(ge.Message), "quota")) {
		return &blob.FullError{Reason: fmt.Sprintf("GCS %d %s", ge.Code, ge.Message), Err: err}
	}
	return err
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}

// Committed blobs.

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	_, size, err := s.blobKeyFound(ctx, d)
	return size, err
}

// Open implements blob.Store with ranged reads from the current offset.
func (s *Store) Open(ctx context.Context, d digest.Digest) (blob.Content, int64, error) {
	key, size, err := s.blobKeyFound(ctx, d)
	if err != nil {
		return nil, 0, err
	}
	return blob.NewRangedContent(ctx, size, func(ctx context.Context, off int64) (io.ReadCloser, error) {
		return s.read(ctx, key, off, -1)
	}), size, nil
}

// read opens length bytes of key from off (-1: to the end).
func (s *Store) read(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	r, err := s.openObject(ctx, key, off, length)
	if errors.Is(err, errNotExist) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return r, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	keys := []string{s.blobKey(d)}
	if s.legacy {
		keys = append(keys, s.legacyBlobKey(d))
	}
	for _, key := range keys {
		if err := s.remove(ctx, key); err != nil {
			return fmt.Errorf("delete blob %s: %w", d, err)
		}
	}
	return nil
}

func (s *Store) remove(ctx context.Context, key string) error {
	err := s.deleteObject(ctx, key)
	if err != nil && !errors.Is(err, errNotExist) {
		return err
	}
	return nil
}

// RedirectURL implements blob.Redirector with a V4 signed GET URL.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	key, _, err := s.blobKeyFound(ctx, d)
	if err != nil {
		return "", err
	}
	u, err := s.sign.signedGetURL(ctx, s.bucketName, key, s.redirectExpiry, time.Now())
	if err != nil {
		return "", fmt.Errorf("sign URL for blob %s: %w", d, err)
	}
	return u, nil
}

// Walk implements blob.Store; registry:2's blobs are included.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	own := map[digest.Digest]bool{}
	base := s.prefix + "blobs/"
	err := s.list(ctx, base, func(a listed) error {
		parts := strings.Split(strings.TrimPrefix(a.Name, base), "/")
		if len(parts) != 3 || len(parts[2]) < 2 || parts[1] != parts[2][:2] {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil {
			return nil
		}
		if s.legacy {
			own[d] = true
		}
		return fn(d, a.Size)
	})
	if err != nil || !s.legacy {
		return err
	}
	return s.walkLegacy(ctx, own, fn)
}

// list calls fn for every object under prefix.
func (s *Store) list(ctx context.Context, prefix string, fn func(a listed) error) error {
	if err := s.listPages(ctx, prefix, "", 0, fn); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// Uploads.

// UploadSize implements blob.Store: the state knows.
func (s *Store) UploadSize(_ context.Context, id string, state blob.UploadState) (int64, error) {
	if err := checkUploadID(id); err != nil {
		return 0, err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return 0, err
	}
	return st.end(), nil
}

// WriteUpload implements blob.Store. The parts before offset are kept (one
// that straddles offset is replaced by a new part holding its bytes before
// offset), and r is stored in new parts of ChunkSize bytes, one written
// while the next is read. Parts the given state lists are never modified,
// so a caller that does not record the returned state may go on from the
// old one.
func (s *Store) WriteUpload(ctx context.Context, id string, state blob.UploadState, offset int64, r io.Reader) (int64, blob.UploadState, error) {
	n, st, err := s.writeUpload(ctx, id, state, offset, r)
	return n, st, full(err)
}

func (s *Store) writeUpload(ctx context.Context, id string, state blob.UploadState, offset int64, r io.Reader) (int64, blob.UploadState, error) {
	if err := checkUploadID(id); err != nil {
		return 0, nil, err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return 0, nil, err
	}
	end := st.end()
	if offset < 0 || offset > end {
		return 0, nil, fmt.Errorf("write upload %s at %d: it holds %d bytes", id, offset, end)
	}
	next := &uploadState{}
	if err := s.keepBefore(ctx, id, st, offset, next); err != nil {
		return 0, nil, err
	}
	n, readErr, err := s.writeParts(ctx, id, r, next)
	if err != nil {
		// The parts written before the failure are durable: keep them.
		if enc, encErr := next.encode(); encErr == nil && next.end() >= offset && n > 0 {
			return n, enc, errors.Join(err, readErr)
		}
		return 0, nil, errors.Join(err, readErr)
	}
	if n == 0 && offset == end {
		return 0, state, readErr
	}
	enc, err := next.encode()
	if err != nil {
		return 0, nil, err
	}
	return n, enc, readErr
}

// keepBefore puts into next the parts of st that end at or before offset
// and, for a part that straddles offset, a new part with its bytes before
// offset (at most one part's bytes pass through wharf).
func (s *Store) keepBefore(ctx context.Context, id string, st *uploadState, offset int64, next *uploadState) error {
	var pos int64
	for _, p := range st.Parts {
		if pos+p.Size <= offset {
			next.Parts = append(next.Parts, p)
			pos += p.Size
			continue
		}
		if pos < offset {
			cut, err := s.cutPart(ctx, id, p, offset-pos)
			if err != nil {
				return err
			}
			next.Parts = append(next.Parts, cut)
		}
		break
	}
	return nil
}

// cutPart stores the first size bytes of p as a new part.
func (s *Store) cutPart(ctx context.Context, id string, p part, size int64) (part, error) {
	rc, err := s.read(ctx, p.Key, 0, size)
	if err != nil {
		return part{}, fmt.Errorf("cut part of upload %s: %w", id, err)
	}
	defer rc.Close()
	buf := make([]byte, size)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return part{}, fmt.Errorf("cut part of upload %s: %w", id, err)
	}
	np := part{Key: s.newPartKey(id, "p"), Size: size}
	if err := s.put(ctx, np.Key, buf); err != nil {
		return part{}, fmt.Errorf("cut part of upload %s: %w", id, err)
	}
	return np, nil
}

// put writes data as object key in one request; the condition that the
// object does not exist yet makes the write idempotent, so it is retried
// on transient errors.
func (s *Store) put(ctx context.Context, key string, data []byte) error {
	return s.insert(ctx, key, data, true)
}

// writeParts reads r to its end in parts of chunkSize and writes each,
// with at most one write in flight while the next part is read. It returns
// the bytes stored in next's new parts, the reader's error and a write
// error.
func (s *Store) writeParts(ctx context.Context, id string, r io.Reader, next *uploadState) (int64, error, error) {
	buf := make([]byte, 0, s.chunkSize)
	var spare []byte
	var inflight chan error
	var stored, pending int64
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		if err == nil {
			stored += pending
		} else {
			next.Parts = next.Parts[:len(next.Parts)-1]
		}
		pending = 0
		return err
	}
	defer wait()
	write := func(data []byte) error {
		if err := wait(); err != nil {
			return err
		}
		p := part{Key: s.newPartKey(id, "p"), Size: int64(len(data))}
		next.Parts = append(next.Parts, p)
		pending = p.Size
		done := make(chan error, 1)
		go func() {
			err := s.put(ctx, p.Key, data)
			if err != nil {
				err = fmt.Errorf("write part of upload %s: %w", id, err)
			}
			done <- err
		}()
		inflight = done
		return nil
	}
	var readErr error
	for {
		k, err := blob.Fill(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if len(buf) == cap(buf) {
			if werr := write(buf); werr != nil {
				return stored, err, werr
			}
			if spare == nil {
				spare = make([]byte, 0, s.chunkSize)
			}
			buf, spare = spare[:0], buf
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	if len(buf) > 0 {
		if err := write(buf); err != nil {
			return stored, readErr, err
		}
	}
	if err := wait(); err != nil {
		return stored, readErr, err
	}
	return stored, readErr, nil
}

// OpenUpload implements blob.Store: the parts, read one after the other.
func (s *Store) OpenUpload(ctx context.Context, id string, state blob.UploadState, size int64) (io.ReadCloser, error) {
	if err := checkUploadID(id); err != nil {
		return nil, err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return nil, err
	}
	if size > st.end() {
		return nil, fmt.Errorf("open upload %s: it holds %d bytes, not %d", id, st.end(), size)
	}
	return &partsReader{ctx: ctx, s: s, parts: st.Parts, left: max(size, 0)}, nil
}

// partsReader reads the first left bytes of parts, opening each in turn.
type partsReader struct {
	ctx   context.Context
	s     *Store
	parts []part
	left  int64
	cur   io.ReadCloser
}

func (r *partsReader) Read(p []byte) (int, error) {
	for r.left > 0 {
		if r.cur == nil {
			if len(r.parts) == 0 {
				return 0, io.ErrUnexpectedEOF
			}
			rc, err := r.s.read(r.ctx, r.parts[0].Key, 0, min(r.parts[0].Size, r.left))
			if err != nil {
				return 0, err
			}
			r.cur, r.parts = rc, r.parts[1:]
		}
		n, err := r.cur.Read(p[:min(int64(len(p)), r.left)])
		r.left -= int64(n)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, io.EOF
}

func (r *partsReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

// CommitUpload implements blob.Store: the parts holding the first size
// bytes (the last one cut if needed) are composed on the service into the
// final key, in rounds of 32 when there are more, with the condition that
// the final object does not exist; a concurrent commit of the same digest
// that won is success. The parts are removed afterwards.
func (s *Store) CommitUpload(ctx context.Context, id string, state blob.UploadState, size int64, d digest.Digest) error {
	return full(s.commitUpload(ctx, id, state, size, d))
}

func (s *Store) commitUpload(ctx context.Context, id string, state blob.UploadState, size int64, d digest.Digest) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return err
	}
	if size < 0 || size > st.end() {
		return fmt.Errorf("commit upload %s: it holds %d bytes, expected %d", id, st.end(), size)
	}
	final := s.blobKey(d)
	if _, err := s.objectSize(ctx, final); err == nil {
		s.cleanupUpload(ctx, id)
		return nil
	} else if !errors.Is(err, errNotExist) {
		return fmt.Errorf("commit upload %s: stat %s: %w", id, d, err)
	}
	upTo := &uploadState{}
	if err := s.keepBefore(ctx, id, st, size, upTo); err != nil {
		return err
	}
	if err := s.compose(ctx, id, upTo.Parts, final); err != nil && !s.exists(ctx, final, size) {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	s.cleanupUpload(ctx, id)
	return nil
}

// compose makes dst the concatenation of parts, created only if absent.
func (s *Store) compose(ctx context.Context, id string, parts []part, dst string) error {
	if len(parts) == 0 {
		return s.insert(ctx, dst, nil, true)
	}
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = p.Key
	}
	for len(keys) > maxCompose {
		var next []string
		for i := 0; i < len(keys); i += maxCompose {
			group := keys[i:min(i+maxCompose, len(keys))]
			key := s.newPartKey(id, "c")
			if err := s.composeObjects(ctx, key, group, false, false); err != nil {
				return err
			}
			next = append(next, key)
		}
		keys = next
	}
	// The last compose hard-deletes its sources, which spares a bucket
	// with soft delete from keeping them; earlier rounds keep theirs, so
	// a commit that fails half-way can be run again from the same state.
	return s.composeObjects(ctx, dst, keys, true, true)
}

// exists reports whether key holds size bytes (a concurrent commit of the
// same digest put it there).
func (s *Store) exists(ctx context.Context, key string, size int64) bool {
	n, err := s.objectSize(ctx, key)
	return err == nil && n == size
}

// cleanupUpload removes a committed upload's parts, best effort.
func (s *Store) cleanupUpload(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = s.removePrefix(ctx, s.uploadPrefix(id))
}

func (s *Store) removePrefix(ctx context.Context, prefix string) error {
	var errs []error
	err := s.list(ctx, prefix, func(a listed) error {
		if err := s.remove(ctx, a.Name); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// CancelUpload implements blob.Store: every object under the upload's
// prefix goes, whatever the state lists.
func (s *Store) CancelUpload(ctx context.Context, id string, _ blob.UploadState) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	if err := s.removePrefix(ctx, s.uploadPrefix(id)); err != nil {
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	return nil
}

// ListUploads implements blob.Store: ids with objects under uploads/.
func (s *Store) ListUploads(ctx context.Context) ([]blob.UploadInfo, error) {
	base := s.prefix + "uploads/"
	seen := map[string]time.Time{}
	err := s.list(ctx, base, func(a listed) error {
		id, rest, ok := strings.Cut(strings.TrimPrefix(a.Name, base), "/")
		if !ok || id == "" || rest == "" {
			return nil
		}
		if old, ok := seen[id]; !ok || a.Updated.After(old) {
			seen[id] = a.Updated
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	out := make([]blob.UploadInfo, 0, len(seen))
	for id, t := range seen {
		out = append(out, blob.UploadInfo{ID: id, ModTime: t})
	}
	return out, nil
}

// EmulatorURL is the emulator's base URL when STORAGE_EMULATOR_HOST is
// set (signed URLs then point there), else "".
func EmulatorURL() string {
	host := os.Getenv(emulatorEnv)
	if host == "" {
		return ""
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
