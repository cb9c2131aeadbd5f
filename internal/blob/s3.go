package blob

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"
)

// S3 limits and defaults.
const (
	// S3MinPartSize is S3's smallest part of a multipart upload (all parts
	// but the last must be at least this large).
	S3MinPartSize = 5 << 20
	// S3MaxPartSize is S3's largest part, and its largest single copy.
	S3MaxPartSize = 5 << 30
	// S3DefaultPartSize is the part size when none is configured
	// (distribution's default chunksize).
	S3DefaultPartSize = 10 << 20
	// S3DefaultRedirectExpiry is how long a presigned blob URL is valid.
	S3DefaultRedirectExpiry = 20 * time.Minute

	s3MaxParts = 10000
	// Above s3CopyThreshold a blob is copied into place as a multipart copy
	// with parts copied in parallel (S3 copies one object of at most 5 GiB
	// in one request; big single copies are slow on every implementation).
	s3CopyThreshold   = 512 << 20
	s3CopyPartSize    = 256 << 20
	s3CopyParallelism = 4
	// s3CleanupTimeout bounds the best-effort removal of upload objects and
	// aborts that run even when the request's context is gone.
	s3CleanupTimeout = time.Minute
)

// S3Options configures an S3 blob store. It mirrors storage.s3 in the
// configuration but keeps this package free of the config package.
type S3Options struct {
	// Endpoint is host[:port] of the S3 API; empty means AWS
	// (s3.amazonaws.com, with the region picking the regional endpoint).
	Endpoint string
	// Secure selects HTTPS; SkipVerify skips TLS certificate checks.
	Secure     bool
	SkipVerify bool
	// Region signs requests; empty lets the client ask the server.
	Region string
	Bucket string
	// RootDirectory is a key prefix under which everything is stored.
	RootDirectory string
	// AccessKey and SecretKey are static credentials. When both are empty
	// the usual chain applies: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and
	// AWS_SESSION_TOKEN), the shared credentials file, then the EC2/ECS
	// instance role.
	AccessKey string
	SecretKey string
	// PathStyle forces path-style bucket addressing (endpoint/bucket/key)
	// instead of virtual-host style (bucket.endpoint/key).
	PathStyle bool
	// PartSize is the multipart part size: uploads are written in parts of
	// this size, and it is the minimum chunk size advertised to clients.
	// 0 means S3DefaultPartSize; it must be within [5 MiB, 5 GiB].
	PartSize int64
	// StorageClass is set on committed blobs (not on upload scratch
	// objects); empty leaves the bucket's default.
	StorageClass string
	// RedirectExpiry is how long presigned URLs are valid (0: 20 minutes).
	RedirectExpiry time.Duration
	// Transport replaces the HTTP transport (tests); nil builds one.
	Transport http.RoundTripper
}

// S3 stores blobs in an S3-compatible object store, using only standard S3
// calls (AWS, MinIO, Ceph RGW, versitygw, ...). Keys under the root prefix:
//
//	blobs/<alg>/<hex[:2]>/<hex>   committed blobs
//	uploads/<id>/data             the multipart upload of upload id
//	uploads/<id>/tail-<end>       bytes of upload id not yet in a part
//
// An upload is a multipart upload whose parts are PartSize bytes each, plus
// a "tail": the last bytes received that do not fill a part (S3 refuses
// parts under 5 MiB except the last), kept as a small object and prepended
// to the next write. The UploadState (JSON) records the multipart upload id,
// each part's number, ETag, offset and size, and the tail object, so any
// wharf node can continue the upload from the state the registry keeps in
// its metadata store.
type S3 struct {
	client         *minio.Client
	core           *minio.Core
	bucket         string
	prefix         string
	partSize       int64
	storageClass   string
	redirectExpiry time.Duration
	copyThreshold  int64
	copyPartSize   int64
	bufs           sync.Pool
	// legacy is set when registry:2's blobs were found under the root at
	// start: blobs missing from wharf's keys are looked for there.
	legacy bool
}

var (
	_ Store      = (*S3)(nil)
	_ Redirector = (*S3)(nil)
	_ ChunkSizer = (*S3)(nil)
)

// NewS3 connects to the bucket opts names and checks that it exists.
func NewS3(ctx context.Context, opts S3Options) (*S3, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3: no bucket configured")
	}
	partSize := opts.PartSize
	if partSize == 0 {
		partSize = S3DefaultPartSize
	}
	if partSize < S3MinPartSize || partSize > S3MaxPartSize {
		return nil, fmt.Errorf("s3: part size (chunksize) %d is outside [%d, %d]", partSize, S3MinPartSize, int64(S3MaxPartSize))
	}
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	var creds *credentials.Credentials
	if opts.AccessKey != "" || opts.SecretKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	transport := opts.Transport
	if transport == nil {
		tr, err := minio.DefaultTransport(opts.Secure)
		if err != nil {
			return nil, fmt.Errorf("s3: transport: %w", err)
		}
		if opts.SkipVerify {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true
		}
		transport = tr
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	// minio-go retries throttling (SlowDown, 503), 5xx and network errors
	// itself, with exponential backoff and jitter (MaxRetries attempts,
	// 200 ms doubling up to 1 s apart), for every request whose body can be
	// replayed; wharf sends parts and tails from memory, so all of them can.
	client, err := minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       opts.Secure,
		Transport:    transport,
		Region:       opts.Region,
		BucketLookup: lookup,
		MaxRetries:   10,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: client for %s: %w", endpoint, err)
	}
	ok, err := client.BucketExists(ctx, opts.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: checking bucket %q at %s: %w", opts.Bucket, endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3: bucket %q does not exist at %s", opts.Bucket, endpoint)
	}
	prefix := strings.Trim(opts.RootDirectory, "/")
	if prefix != "" {
		prefix += "/"
	}
	expiry := opts.RedirectExpiry
	if expiry <= 0 {
		expiry = S3DefaultRedirectExpiry
	}
	s := &S3{
		client:         client,
		core:           &minio.Core{Client: client},
		bucket:         opts.Bucket,
		prefix:         prefix,
		partSize:       partSize,
		storageClass:   opts.StorageClass,
		redirectExpiry: expiry,
		copyThreshold:  s3CopyThreshold,
		copyPartSize:   s3CopyPartSize,
	}
	s.bufs.New = func() any {
		b := make([]byte, s.partSize)
		return &b
	}
	if s.legacy, err = s.hasLegacy(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// MinChunkSize implements ChunkSizer: chunks of at least the part size go
// straight into parts; smaller ones are buffered in a tail object and read
// back by the next write.
func (s *S3) MinChunkSize() int64 { return s.partSize }

// Keys.

func (s *S3) blobKey(d digest.Digest) string {
	hex := d.Encoded()
	return s.prefix + "blobs/" + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex
}

func (s *S3) uploadPrefix(id string) string { return s.prefix + "uploads/" + id + "/" }

func (s *S3) dataKey(id string) string { return s.uploadPrefix(id) + "data" }

func (s *S3) tailKey(id string, end int64) string {
	return s.uploadPrefix(id) + "tail-" + strconv.FormatInt(end, 10)
}

func checkUploadID(id string) error {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return fmt.Errorf("upload id %q: %w", id, ErrNotFound)
	}
	return nil
}

// Upload state.

// s3UploadState is the UploadState of an S3 upload, kept as JSON.
type s3UploadState struct {
	// Key and UploadID name the multipart upload, created with the first
	// full part.
	Key      string   `json:"key,omitempty"`
	UploadID string   `json:"uploadId,omitempty"`
	Parts    []s3Part `json:"parts,omitempty"`
	// PartSize is fixed for the life of the upload, so a node configured
	// with another chunksize can go on with it.
	PartSize int64 `json:"partSize,omitempty"`
	// Tail holds the bytes after the last part.
	Tail *s3Tail `json:"tail,omitempty"`
	// Stale is a tail object this state no longer uses. It is kept until
	// the next write, because the caller may not record this state (a crash,
	// a lost race) and go on from the previous one, which needs it.
	Stale string `json:"stale,omitempty"`
}

type s3Part struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	Offset int64  `json:"off"`
	Size   int64  `json:"size"`
}

type s3Tail struct {
	Key    string `json:"key"`
	Offset int64  `json:"off"`
	Size   int64  `json:"size"`
}

// end is how many bytes the upload holds.
func (st *s3UploadState) end() int64 {
	if st.Tail != nil {
		return st.Tail.Offset + st.Tail.Size
	}
	if n := len(st.Parts); n > 0 {
		return st.Parts[n-1].Offset + st.Parts[n-1].Size
	}
	return 0
}

func decodeS3State(id string, state UploadState) (*s3UploadState, error) {
	st := &s3UploadState{}
	if len(state) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(state, st); err != nil {
		return nil, fmt.Errorf("upload %s: bad S3 upload state: %w", id, err)
	}
	return st, nil
}

func (st *s3UploadState) encode() (UploadState, error) {
	if st.UploadID == "" && st.Tail == nil && st.Stale == "" {
		return nil, nil
	}
	return json.Marshal(st)
}

// Errors.

func s3Code(err error) string { return minio.ToErrorResponse(err).Code }

// s3FullCodes are the object-store error codes that mean no more bytes fit:
// a bucket quota (Ceph RGW, MinIO), a full backend (MinIO), a size the
// store refuses. Any 507 Insufficient Storage counts too.
var s3FullCodes = map[string]bool{
	"QuotaExceeded":                  true,
	"XMinioAdminBucketQuotaExceeded": true,
	"XMinioStorageFull":              true,
	"InsufficientStorage":            true,
	"EntityTooLarge":                 true,
}

// s3Full marks err with ErrFull when the object store refused a write for
// lack of space or quota, so the registry answers 507 with the store's
// reason instead of an internal error.
func s3Full(err error) error {
	var er minio.ErrorResponse
	if err == nil || errors.Is(err, ErrFull) || !errors.As(err, &er) {
		return err
	}
	if !s3FullCodes[er.Code] && er.StatusCode != http.StatusInsufficientStorage {
		return err
	}
	return &FullError{Reason: fmt.Sprintf("S3 %d %s", er.StatusCode, er.Code), Err: err}
}

func isS3NotFound(err error) bool {
	switch s3Code(err) {
	case "NoSuchKey", "NotFound":
		return true
	}
	return false
}

// Committed blobs.

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	_, size, err := s.blobKeyFound(ctx, d)
	return size, err
}

// Open implements Store. The content is a *minio.Object: reads stream one
// GET, and Seek makes the next read a ranged GET, so http.ServeContent can
// answer Range requests when redirects are off.
func (s *S3) Open(ctx context.Context, d digest.Digest) (Content, int64, error) {
	key := s.blobKey(d)
	if s.legacy {
		var err error
		if key, _, err = s.blobKeyFound(ctx, d); err != nil {
			return nil, 0, err
		}
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		if isS3NotFound(err) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	return obj, info.Size, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, d digest.Digest) error {
	keys := []string{s.blobKey(d)}
	if s.legacy {
		keys = append(keys, s.legacyBlobKey(d))
	}
	for _, key := range keys {
		err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
		if err != nil && !isS3NotFound(err) {
			return fmt.Errorf("delete blob %s: %w", d, err)
		}
	}
	return nil
}

// RedirectURL implements Redirector with a presigned GET.
func (s *S3) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	key := s.blobKey(d)
	if s.legacy {
		var err error
		if key, _, err = s.blobKeyFound(ctx, d); err != nil {
			return "", err
		}
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, s.redirectExpiry, nil)
	if err != nil {
		return "", fmt.Errorf("presign blob %s: %w", d, err)
	}
	return u.String(), nil
}

// Walk implements Store. Keys that are not blobs/<alg>/<hex[:2]>/<hex> with
// a valid digest are skipped. registry:2's blobs served in place are
// included.
func (s *S3) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listers when fn fails
	if !s.legacy {
		return s.walkOwn(ctx, fn)
	}
	own := map[digest.Digest]bool{}
	err := s.walkOwn(ctx, func(d digest.Digest, size int64) error {
		own[d] = true
		return fn(d, size)
	})
	if err != nil {
		return err
	}
	return s.walkLegacy(ctx, own, fn)
}

func (s *S3) walkOwn(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	base := s.prefix + "blobs/"
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("walk blobs: %w", obj.Err)
		}
		parts := strings.Split(strings.TrimPrefix(obj.Key, base), "/")
		if len(parts) != 3 || len(parts[2]) < 2 || parts[1] != parts[2][:2] {
			continue
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil {
			continue
		}
		if err := fn(d, obj.Size); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Uploads.

// UploadSize implements Store: the state knows.
func (s *S3) UploadSize(_ context.Context, id string, state UploadState) (int64, error) {
	if err := checkUploadID(id); err != nil {
		return 0, err
	}
	st, err := decodeS3State(id, state)
	if err != nil {
		return 0, err
	}
	return st.end(), nil
}

// WriteUpload implements Store. Full parts are uploaded as they fill; the
// bytes left over become the new tail object. Nothing the given state
// refers to is modified, except the parts and tail past offset it drops, so
// a caller that does not record the returned state may go on from the old
// one.
func (s *S3) WriteUpload(ctx context.Context, id string, state UploadState, offset int64, r io.Reader) (int64, UploadState, error) {
	n, st, err := s.writeUpload(ctx, id, state, offset, r)
	return n, st, s3Full(err)
}

func (s *S3) writeUpload(ctx context.Context, id string, state UploadState, offset int64, r io.Reader) (int64, UploadState, error) {
	if err := checkUploadID(id); err != nil {
		return 0, nil, err
	}
	st, err := decodeS3State(id, state)
	if err != nil {
		return 0, nil, err
	}
	end := st.end()
	if offset < 0 || offset > end {
		return 0, nil, fmt.Errorf("write upload %s at %d: it holds %d bytes", id, offset, end)
	}
	// The state handed in was recorded by the caller, so the tail its
	// predecessor used is garbage now.
	if st.Stale != "" {
		s.removeQuiet(ctx, st.Stale)
		st.Stale = ""
	}

	// Drop what lies past offset. A part that straddles offset cannot be
	// cut: S3 cannot read back the parts of an incomplete upload. The
	// registry never asks for that (its offsets always match the state).
	kept := 0
	for _, p := range st.Parts {
		if p.Offset+p.Size <= offset {
			kept++
			continue
		}
		if p.Offset < offset {
			return 0, nil, fmt.Errorf("write upload %s at %d: cannot discard bytes inside part %d [%d, %d)", id, offset, p.Number, p.Offset, p.Offset+p.Size)
		}
	}
	st.Parts = st.Parts[:kept:kept]
	oldTail := st.Tail
	st.Tail = nil

	if st.PartSize == 0 {
		st.PartSize = s.partSize
	}
	if st.PartSize < S3MinPartSize || st.PartSize > S3MaxPartSize {
		return 0, nil, fmt.Errorf("upload %s: bad part size %d in its state", id, st.PartSize)
	}
	buf := s.getBuf(st.PartSize)
	var spare []byte // the second buffer, allocated once a part is uploaded
	defer func() { s.putBuf(buf); s.putBuf(spare) }()
	// buf[:prefixLen] is reserved for the old tail's bytes before offset,
	// fetched only when the buffer is flushed (an empty write costs no GET).
	var prefixLen int64
	if oldTail != nil && oldTail.Offset < offset {
		prefixLen = offset - oldTail.Offset
	}
	if prefixLen >= int64(cap(buf)) {
		return 0, nil, fmt.Errorf("upload %s: tail of %d bytes in its state is not smaller than a part", id, prefixLen)
	}
	prefixLoaded := prefixLen == 0
	bufStart := offset - prefixLen // upload offset of buf[0]
	buf = buf[:prefixLen]

	loadPrefix := func() error {
		if prefixLoaded {
			return nil
		}
		if err := s.readRange(ctx, oldTail.Key, 0, buf[:prefixLen]); err != nil {
			return fmt.Errorf("read tail of upload %s: %w", id, err)
		}
		prefixLoaded = true
		return nil
	}
	// Parts are uploaded while the next one is read from r: at most one
	// upload in flight, which alone touches st until waited for.
	var inflight chan error
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	defer wait()
	durable := bufStart // bytes before this offset are in S3 under st
	// fail reports an S3 failure: what reached S3 in whole parts is kept
	// when it covers offset, else the caller keeps its old state.
	fail := func(err error) (int64, UploadState, error) {
		wait()
		if durable < offset {
			return 0, nil, err // not even the old tail's bytes are covered
		}
		if oldTail != nil {
			st.Stale = oldTail.Key
		}
		enc, encErr := st.encode()
		if encErr != nil {
			return 0, nil, err
		}
		return durable - offset, enc, err
	}

	var n int64
	var readErr error
	for {
		k, rerr := fill(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		n += int64(k)
		if len(buf) == cap(buf) {
			if err := loadPrefix(); err != nil {
				return fail(err)
			}
			if err := wait(); err != nil {
				return fail(err)
			}
			durable = bufStart
			part, partStart := buf, bufStart
			done := make(chan error, 1)
			go func() { done <- s.putPart(ctx, id, st, partStart, part) }()
			inflight = done
			bufStart += int64(len(buf))
			if spare == nil {
				spare = s.getBuf(st.PartSize)
			}
			buf, spare = spare[:0], part
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			readErr = rerr
			break
		}
	}
	if err := wait(); err != nil {
		return fail(errors.Join(err, readErr))
	}
	durable = bufStart

	if n == 0 && offset == end {
		// Nothing new and nothing dropped: the old tail stays as it is.
		st.Tail = oldTail
		enc, err := st.encode()
		return 0, enc, errors.Join(readErr, err)
	}
	if len(buf) > 0 {
		if err := loadPrefix(); err != nil {
			return fail(errors.Join(err, readErr))
		}
		tail := &s3Tail{Key: s.tailKey(id, bufStart+int64(len(buf))), Offset: bufStart, Size: int64(len(buf))}
		err := retryParentRace(ctx, func() error {
			_, err := s.core.PutObject(ctx, s.bucket, tail.Key, bytes.NewReader(buf), tail.Size, "", "", minio.PutObjectOptions{ContentType: "application/octet-stream"})
			return err
		})
		if err != nil {
			return fail(errors.Join(fmt.Errorf("write tail of upload %s: %w", id, err), readErr))
		}
		st.Tail = tail
	}
	if oldTail != nil && (st.Tail == nil || st.Tail.Key != oldTail.Key) {
		st.Stale = oldTail.Key
	}
	enc, err := st.encode()
	if err != nil {
		return 0, nil, err
	}
	return n, enc, readErr
}

// getBuf returns an empty buffer with room for one part of size bytes.
func (s *S3) getBuf(size int64) []byte {
	if size == s.partSize {
		return (*s.bufs.Get().(*[]byte))[:0]
	}
	return make([]byte, 0, size)
}

// putBuf returns a buffer from getBuf (nil is ignored).
func (s *S3) putBuf(b []byte) {
	if int64(cap(b)) == s.partSize {
		b = b[:cap(b)]
		s.bufs.Put(&b)
	}
}

// putPart uploads data as the next part, starting the multipart upload if
// there is none yet.
func (s *S3) putPart(ctx context.Context, id string, st *s3UploadState, off int64, data []byte) error {
	if st.UploadID == "" {
		key := s.dataKey(id)
		uid, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			return fmt.Errorf("start multipart upload for upload %s: %w", id, err)
		}
		st.Key, st.UploadID = key, uid
	}
	num := len(st.Parts) + 1
	if num >= s3MaxParts { // the last number is kept for the tail at commit
		return fmt.Errorf("upload %s: more than %d parts of %d bytes; configure a larger chunksize", id, s3MaxParts-1, len(data))
	}
	p, err := s.core.PutObjectPart(ctx, s.bucket, st.Key, st.UploadID, num, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
	if err != nil {
		return fmt.Errorf("upload part %d of upload %s: %w", num, id, err)
	}
	st.Parts = append(st.Parts, s3Part{Number: num, ETag: p.ETag, Offset: off, Size: int64(len(data))})
	return nil
}

// readRange reads len(buf) bytes of key starting at off into buf.
func (s *S3) readRange(ctx context.Context, key string, off int64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	rc, err := s.getRange(ctx, key, off, int64(len(buf)))
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.ReadFull(rc, buf)
	return err
}

// getRange opens bytes [off, off+n) of key; n must be positive.
func (s *S3) getRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, err
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// OpenUpload implements Store. A tail-only upload is read from its tail
// object. S3 cannot read the parts of an incomplete multipart upload, so an
// upload with parts is first assembled: its multipart upload is completed
// (tail as the last part) onto its data key, exactly as CommitUpload would,
// and that object is read. The state stays valid for CommitUpload and
// CancelUpload, which find the completed object; the upload takes no
// further parts afterwards.
func (s *S3) OpenUpload(ctx context.Context, id string, state UploadState, size int64) (io.ReadCloser, error) {
	if err := checkUploadID(id); err != nil {
		return nil, err
	}
	st, err := decodeS3State(id, state)
	if err != nil {
		return nil, err
	}
	if size > st.end() {
		return nil, fmt.Errorf("open upload %s: it holds %d bytes, not %d", id, st.end(), size)
	}
	if size <= 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	key := ""
	if len(st.Parts) == 0 {
		key = st.Tail.Key
	} else {
		if key, _, err = s.assemble(ctx, id, st); err != nil {
			return nil, err
		}
	}
	rc, err := s.getRange(ctx, key, 0, size)
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, err)
	}
	return rc, nil
}

// assemble completes the multipart upload of st onto its key, with the tail
// copied in as the last part, and returns that key and its size. When the
// upload was completed already (by OpenUpload, or a commit that failed
// after completing), the completed object is used.
func (s *S3) assemble(ctx context.Context, id string, st *s3UploadState) (string, int64, error) {
	parts := make([]minio.CompletePart, 0, len(st.Parts)+1)
	for _, p := range st.Parts {
		parts = append(parts, minio.CompletePart{PartNumber: p.Number, ETag: p.ETag})
	}
	err := func() error {
		if st.Tail != nil {
			// Server-side copy of the tail object as the last part (it may
			// be smaller than 5 MiB): no bytes pass through wharf.
			cp, err := s.core.CopyObjectPart(ctx, s.bucket, st.Tail.Key, s.bucket, st.Key, st.UploadID,
				len(st.Parts)+1, 0, st.Tail.Size, nil)
			if err != nil {
				return err
			}
			parts = append(parts, minio.CompletePart{PartNumber: cp.PartNumber, ETag: cp.ETag})
		}
		return retryParentRace(ctx, func() error {
			_, err := s.core.CompleteMultipartUpload(ctx, s.bucket, st.Key, st.UploadID, parts, minio.PutObjectOptions{})
			return err
		})
	}()
	if err == nil {
		return st.Key, st.end(), nil
	}
	if s3Code(err) == "NoSuchUpload" {
		info, serr := s.client.StatObject(ctx, s.bucket, st.Key, minio.StatObjectOptions{})
		if serr == nil && info.Size == st.end() {
			return st.Key, info.Size, nil
		}
	}
	return "", 0, fmt.Errorf("complete multipart upload of upload %s: %w", id, err)
}

// CommitUpload implements Store.
//
// A multipart upload's object key is fixed when it starts, long before the
// digest is known (the final PUT names it), so the bytes cannot be
// completed straight under blobs/<digest>: they are completed onto the
// upload's own key, then copied under the final key with a server-side copy
// (CopyObject, or a parallel multipart copy with UploadPartCopy for big
// blobs and for ranges), so no byte passes through wharf. S3 has no rename.
// Both the copy and the multipart copy make the final object appear
// atomically, complete or not at all, so a commit that fails leaves no
// visible blob, and the upload can be committed again. A blob smaller than
// a part never had a multipart upload: its tail object is copied into
// place. If the final key exists already (the same content was pushed
// before) nothing is copied.
func (s *S3) CommitUpload(ctx context.Context, id string, state UploadState, size int64, d digest.Digest) error {
	return s3Full(s.commitUpload(ctx, id, state, size, d))
}

func (s *S3) commitUpload(ctx context.Context, id string, state UploadState, size int64, d digest.Digest) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	st, err := decodeS3State(id, state)
	if err != nil {
		return err
	}
	if size < 0 || size > st.end() {
		return fmt.Errorf("commit upload %s: it holds %d bytes, expected %d", id, st.end(), size)
	}
	final := s.blobKey(d)
	_, err = s.client.StatObject(ctx, s.bucket, final, minio.StatObjectOptions{})
	switch {
	case err == nil:
		s.cleanupUpload(ctx, id, st)
		return nil
	case !isS3NotFound(err):
		return fmt.Errorf("commit upload %s: stat %s: %w", id, d, err)
	}
	switch {
	case size == 0:
		err = retryParentRace(ctx, func() error {
			_, err := s.core.PutObject(ctx, s.bucket, final, bytes.NewReader(nil), 0, "", "", s.finalPutOptions())
			return err
		})
	case len(st.Parts) == 0:
		err = s.copyInto(ctx, st.Tail.Key, st.Tail.Size, final, size)
	default:
		var src string
		var srcSize int64
		if src, srcSize, err = s.assemble(ctx, id, st); err == nil {
			err = s.copyInto(ctx, src, srcSize, final, size)
		}
	}
	if err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	s.cleanupUpload(ctx, id, st)
	return nil
}

func (s *S3) finalPutOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{ContentType: "application/octet-stream", StorageClass: s.storageClass}
}

// copyInto copies bytes [0, size) of src (srcSize bytes) to dst on the
// server side.
func (s *S3) copyInto(ctx context.Context, src string, srcSize int64, dst string, size int64) error {
	if size == srcSize && size <= s.copyThreshold {
		var meta map[string]string
		if s.storageClass != "" {
			meta = map[string]string{"x-amz-storage-class": s.storageClass}
		}
		return retryParentRace(ctx, func() error {
			_, err := s.core.CopyObject(ctx, s.bucket, src, s.bucket, dst, meta,
				minio.CopySrcOptions{Bucket: s.bucket, Object: src}, minio.PutObjectOptions{})
			return err
		})
	}
	return s.multipartCopy(ctx, src, dst, size)
}

// multipartCopy copies bytes [0, size) of src to dst with UploadPartCopy,
// several parts at a time. dst appears only when every part is in.
func (s *S3) multipartCopy(ctx context.Context, src, dst string, size int64) error {
	partSize := max(s.copyPartSize, (size+s3MaxParts-1)/s3MaxParts)
	uid, err := s.core.NewMultipartUpload(ctx, s.bucket, dst, s.finalPutOptions())
	if err != nil {
		return err
	}
	n := int((size + partSize - 1) / partSize)
	parts := make([]minio.CompletePart, n)
	errs := make([]error, n)
	sem := make(chan struct{}, s3CopyParallelism)
	var wg sync.WaitGroup
	copyCtx, cancel := context.WithCancel(ctx)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := int64(i) * partSize
			length := min(partSize, size-start)
			cp, err := s.core.CopyObjectPart(copyCtx, s.bucket, src, s.bucket, dst, uid, i+1, start, length, nil)
			if err != nil {
				errs[i] = fmt.Errorf("copy part %d: %w", i+1, err)
				cancel()
				return
			}
			parts[i] = minio.CompletePart{PartNumber: cp.PartNumber, ETag: cp.ETag}
		}()
	}
	wg.Wait()
	cancel()
	err = errors.Join(errs...)
	if err == nil {
		err = retryParentRace(ctx, func() error {
			_, err := s.core.CompleteMultipartUpload(ctx, s.bucket, dst, uid, parts, minio.PutObjectOptions{})
			return err
		})
	}
	if err != nil {
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), s3CleanupTimeout)
		defer acancel()
		s.core.AbortMultipartUpload(actx, s.bucket, dst, uid)
		return err
	}
	return nil
}

// cleanupUpload removes a committed upload's objects, best effort: the blob
// is in place, so a failure here must not fail the commit; leftovers are
// found by ListUploads and purged with the orphaned uploads.
func (s *S3) cleanupUpload(ctx context.Context, id string, st *s3UploadState) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s3CleanupTimeout)
	defer cancel()
	if st.UploadID != "" {
		err := s.core.AbortMultipartUpload(ctx, s.bucket, st.Key, st.UploadID)
		_ = err // NoSuchUpload once completed: expected
	}
	s.removePrefix(ctx, s.uploadPrefix(id))
}

// removePrefix removes every object under prefix, returning the first
// error.
func (s *S3) removePrefix(ctx context.Context, prefix string) error {
	var first error
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		err := s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{})
		if err != nil && !isS3NotFound(err) && first == nil {
			first = err
		}
	}
	return first
}

func (s *S3) removeQuiet(ctx context.Context, key string) {
	_ = s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
}

// multipartUploads lists the incomplete multipart uploads under prefix.
func (s *S3) multipartUploads(ctx context.Context, prefix string) ([]minio.ObjectMultipartInfo, error) {
	var out []minio.ObjectMultipartInfo
	keyMarker, idMarker := "", ""
	for range 100_000 { // bounded: 1000 uploads a page
		res, err := s.core.ListMultipartUploads(ctx, s.bucket, prefix, keyMarker, idMarker, "", 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Uploads...)
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return out, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	return out, nil
}

// CancelUpload implements Store: the multipart upload is aborted, and any
// other one under the upload's prefix (left by a write whose state was never
// recorded), and every object under the prefix is removed.
func (s *S3) CancelUpload(ctx context.Context, id string, state UploadState) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	st, err := decodeS3State(id, state)
	if err != nil {
		st = &s3UploadState{} // a bad state must not keep the bytes forever
	}
	var errs []error
	if st.UploadID != "" {
		err := s.core.AbortMultipartUpload(ctx, s.bucket, st.Key, st.UploadID)
		if err != nil && s3Code(err) != "NoSuchUpload" {
			errs = append(errs, err)
		}
	}
	prefix := s.uploadPrefix(id)
	ups, err := s.multipartUploads(ctx, prefix)
	if err != nil {
		errs = append(errs, err)
	}
	for _, u := range ups {
		if u.UploadID == st.UploadID {
			continue
		}
		err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID)
		if err != nil && s3Code(err) != "NoSuchUpload" {
			errs = append(errs, err)
		}
	}
	if err := s.removePrefix(ctx, prefix); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	return nil
}

// ListUploads implements Store: ids with objects under uploads/, or with an
// incomplete multipart upload there, with the latest time seen.
func (s *S3) ListUploads(ctx context.Context) ([]UploadInfo, error) {
	base := s.prefix + "uploads/"
	seen := map[string]time.Time{}
	note := func(key string, t time.Time) {
		id, rest, ok := strings.Cut(strings.TrimPrefix(key, base), "/")
		if !ok || id == "" || rest == "" || strings.HasSuffix(rest, "/") {
			return // not an upload's object (a directory marker, say)
		}
		if old, ok := seen[id]; !ok || t.After(old) {
			seen[id] = t
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list uploads: %w", obj.Err)
		}
		note(obj.Key, obj.LastModified)
	}
	ups, err := s.multipartUploads(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	for _, u := range ups {
		note(u.Key, u.Initiated)
	}
	out := make([]UploadInfo, 0, len(seen))
	for id, t := range seen {
		out = append(out, UploadInfo{ID: id, ModTime: t})
	}
	return out, nil
}

// retryParentRace retries an object write that failed with
// ExistingObjectIsDirectory. Gateways that keep objects as files (versitygw's
// posix backend) answer so when they remove an emptied "directory" of keys
// while another request is creating a key under it: transient, since wharf
// never writes a key that is also a prefix of other keys.
func retryParentRace(ctx context.Context, write func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = write(); err == nil || minio.ToErrorResponse(err).Code != "ExistingObjectIsDirectory" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return err
}
