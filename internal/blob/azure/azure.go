// Package azure is wharf's blob store on Azure Blob Storage (and Azurite).
//
// Keys under the root directory of the container:
//
//	blobs/<alg>/<hex[:2]>/<hex>   committed blobs
//	uploads/<id>/data             the bytes of upload id, a block blob
//
// An upload is a block blob whose block list is committed after every
// write, so the upload blob always holds exactly the bytes the upload
// session counts and any node can read it. The UploadState (JSON) lists the
// committed blocks (ids and sizes); a write stages new blocks and commits
// the list of the kept ones plus the new ones. Commit copies the upload's
// bytes into the final key on the server side (Put Block From URL into the
// final blob, then one Put Block List there): a block staged on one blob
// cannot be committed to another, and the final key is only known when the
// digest is, so a copy is unavoidable; Put Block List makes the final blob
// appear at once, complete, which an asynchronous Copy Blob does not.
package azure

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azb "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// Defaults and limits.
const (
	// DefaultRealm is the endpoint suffix of Azure's public cloud.
	DefaultRealm = "core.windows.net"
	// DefaultBlockSize is the size of the blocks a write stages: a write
	// holds at most two of them in memory.
	DefaultBlockSize = 8 << 20
	// DefaultRedirectExpiry is how long a SAS URL for a blob is valid.
	DefaultRedirectExpiry = 20 * time.Minute

	// Azure allows 50,000 committed blocks per blob and blocks of up to
	// 4,000 MiB; copies are staged in copyBlockSize ranges (Put Block From
	// URL takes up to 100 MiB on older service versions and Azurite).
	maxBlocks       = 50000
	copyBlockSize   = 100 << 20
	copyParallelism = 4
	// sasSkew backdates SAS start times for clocks that run behind.
	sasSkew = 5 * time.Minute
	// cleanupTimeout bounds the best-effort removal of upload blobs that
	// runs even when the request's context is gone.
	cleanupTimeout = time.Minute
)

// Credential types of storage.azure.credentials.type, as distribution
// names them.
const (
	CredentialsSharedKey    = "shared_key"
	CredentialsClientSecret = "client_secret"
	CredentialsDefault      = "default_credentials"
)

// Credentials selects how wharf authenticates to the storage account.
type Credentials struct {
	// Type is CredentialsSharedKey (AccountName and AccountKey),
	// CredentialsClientSecret (a service principal: TenantID, ClientID,
	// Secret) or CredentialsDefault (azidentity's default chain: environment,
	// workload identity, managed identity, Azure CLI). Empty means shared
	// key when AccountKey is set, else the default chain.
	Type     string
	ClientID string
	TenantID string
	Secret   string
}

// Options configures an Azure blob store; it mirrors storage.azure.
type Options struct {
	AccountName string
	AccountKey  string
	Container   string
	// Realm is the endpoint suffix (core.windows.net, core.chinacloudapi.cn,
	// ...), used when ServiceURL is empty.
	Realm string
	// ServiceURL is the blob endpoint, e.g. https://<account>.blob.<realm>
	// or, for Azurite, http://127.0.0.1:10000/devstoreaccount1.
	ServiceURL    string
	RootDirectory string
	Credentials   Credentials
	// BlockSize is the size of staged blocks (0: DefaultBlockSize).
	BlockSize int64
	// RedirectExpiry is how long SAS URLs are valid (0: 20 minutes).
	RedirectExpiry time.Duration
}

// Store keeps blobs in one container of a storage account.
type Store struct {
	container      *container.Client
	service        *service.Client
	sharedKey      *azblob.SharedKeyCredential // nil with Entra ID credentials
	containerName  string
	prefix         string
	blockSize      int64
	redirectExpiry time.Duration
	insecure       bool // the endpoint is plain HTTP (Azurite): SAS allows it
	delegation     delegationCache
	// legacy is set when registry:2's blobs were found under the root at
	// start: blobs missing from wharf's keys are looked for there.
	legacy bool
}

var (
	_ blob.Store      = (*Store)(nil)
	_ blob.Redirector = (*Store)(nil)
	_ blob.ChunkSizer = (*Store)(nil)
	_ blob.Tree       = (*Store)(nil)
)

// New connects to the container opts names and checks that it exists.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Container == "" {
		return nil, errors.New("azure: no container configured")
	}
	serviceURL, err := ServiceURL(opts)
	if err != nil {
		return nil, err
	}
	blockSize := opts.BlockSize
	if blockSize == 0 {
		blockSize = DefaultBlockSize
	}
	if blockSize < 1<<20 || blockSize > 4000<<20 {
		return nil, fmt.Errorf("azure: block size %d is outside [1 MiB, 4000 MiB]", blockSize)
	}
	s := &Store{
		containerName:  opts.Container,
		prefix:         rootPrefix(opts.RootDirectory),
		blockSize:      blockSize,
		redirectExpiry: opts.RedirectExpiry,
	}
	if s.redirectExpiry <= 0 {
		s.redirectExpiry = DefaultRedirectExpiry
	}
	u, _ := url.Parse(serviceURL)
	s.insecure = u.Scheme == "http"
	if err := s.connect(serviceURL, opts); err != nil {
		return nil, err
	}
	if _, err := s.container.GetProperties(ctx, nil); err != nil {
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil, fmt.Errorf("azure: container %q does not exist at %s", opts.Container, serviceURL)
		}
		return nil, fmt.Errorf("azure: checking container %q at %s: %w", opts.Container, serviceURL, err)
	}
	if s.legacy, err = s.hasLegacy(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ServiceURL is the blob endpoint opts name: ServiceURL, or the account's
// endpoint in Realm.
func ServiceURL(opts Options) (string, error) {
	if opts.ServiceURL != "" {
		u, err := url.Parse(opts.ServiceURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("azure: serviceurl %q is not an http(s) URL", opts.ServiceURL)
		}
		return strings.TrimSuffix(opts.ServiceURL, "/"), nil
	}
	if opts.AccountName == "" {
		return "", errors.New("azure: accountname or serviceurl must be set")
	}
	realm := opts.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	return "https://" + opts.AccountName + ".blob." + realm, nil
}

// connect builds the clients for the credential type opts select.
func (s *Store) connect(serviceURL string, opts Options) error {
	clientOpts := azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 6}}
	containerURL := serviceURL + "/" + url.PathEscape(opts.Container)
	kind := opts.Credentials.Type
	if kind == "" {
		kind = CredentialsDefault
		if opts.AccountKey != "" {
			kind = CredentialsSharedKey
		}
	}
	var token azcore.TokenCredential
	var err error
	switch kind {
	case CredentialsSharedKey:
		if opts.AccountName == "" || opts.AccountKey == "" {
			return errors.New("azure: shared key credentials need accountname and accountkey")
		}
		if s.sharedKey, err = azblob.NewSharedKeyCredential(opts.AccountName, opts.AccountKey); err != nil {
			return fmt.Errorf("azure: account key: %w", err)
		}
		s.container, err = container.NewClientWithSharedKeyCredential(containerURL, s.sharedKey,
			&container.ClientOptions{ClientOptions: clientOpts})
		if err != nil {
			return fmt.Errorf("azure: client for %s: %w", containerURL, err)
		}
		return nil
	case CredentialsClientSecret:
		c := opts.Credentials
		token, err = azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.Secret, nil)
	case CredentialsDefault:
		token, err = azidentity.NewDefaultAzureCredential(nil)
	default:
		return fmt.Errorf("azure: credentials type %q is not %s, %s or %s", kind,
			CredentialsSharedKey, CredentialsClientSecret, CredentialsDefault)
	}
	if err != nil {
		return fmt.Errorf("azure: %s credentials: %w", kind, err)
	}
	if s.container, err = container.NewClient(containerURL, token, &container.ClientOptions{ClientOptions: clientOpts}); err != nil {
		return fmt.Errorf("azure: client for %s: %w", containerURL, err)
	}
	if s.service, err = service.NewClient(serviceURL, token, &service.ClientOptions{ClientOptions: clientOpts}); err != nil {
		return fmt.Errorf("azure: client for %s: %w", serviceURL, err)
	}
	return nil
}

func rootPrefix(root string) string {
	p := strings.Trim(root, "/")
	if p != "" {
		p += "/"
	}
	return p
}

// MinChunkSize implements blob.ChunkSizer: chunks of a block or more are
// staged in whole blocks.
func (s *Store) MinChunkSize() int64 { return s.blockSize }

// Keys.

func (s *Store) blobKey(d digest.Digest) string {
	hex := d.Encoded()
	return s.prefix + "blobs/" + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex
}

func (s *Store) uploadPrefix(id string) string { return s.prefix + "uploads/" + id + "/" }

func (s *Store) dataKey(id string) string { return s.uploadPrefix(id) + "data" }

func checkUploadID(id string) error {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return fmt.Errorf("upload id %q: %w", id, blob.ErrNotFound)
	}
	return nil
}

// Upload state.

// uploadState is the UploadState of an Azure upload, kept as JSON: the
// blocks committed on the upload blob, in order.
type uploadState struct {
	Blocks []block `json:"blocks"`
}

type block struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

func (st *uploadState) end() int64 {
	var n int64
	for _, b := range st.Blocks {
		n += b.Size
	}
	return n
}

func (st *uploadState) ids() []string {
	out := make([]string, len(st.Blocks))
	for i, b := range st.Blocks {
		out[i] = b.ID
	}
	return out
}

func decodeState(id string, state blob.UploadState) (*uploadState, error) {
	st := &uploadState{}
	if len(state) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(state, st); err != nil {
		return nil, fmt.Errorf("upload %s: bad Azure upload state: %w", id, err)
	}
	return st, nil
}

func (st *uploadState) encode() (blob.UploadState, error) {
	if len(st.Blocks) == 0 {
		return nil, nil
	}
	return json.Marshal(st)
}

// newBlockID returns a fresh random block id. Ids are random, not
// sequence numbers, so a write from a stale state never reuses an id a
// later write staged; all have the same length, as Azure requires.
func newBlockID() string {
	var b [18]byte
	crand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// Errors.

func isNotFound(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound)
}

// full marks err with blob.ErrFull when the account refused a write for
// lack of space (a blob past its block count or size limit).
func full(err error) error {
	if err == nil || errors.Is(err, blob.ErrFull) {
		return err
	}
	for _, code := range []bloberror.Code{bloberror.BlockCountExceedsLimit, bloberror.ContentLengthLargerThanTierLimit, bloberror.RequestBodyTooLarge} {
		if bloberror.HasCode(err, code) {
			return &blob.FullError{Reason: "Azure " + string(code), Err: err}
		}
	}
	return err
}

// Committed blobs.

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	_, size, err := s.blobKeyFound(ctx, d)
	return size, err
}

// Open implements blob.Store. Reads are ranged GETs from the current
// offset, so http.ServeContent answers Range requests without reading the
// whole blob.
func (s *Store) Open(ctx context.Context, d digest.Digest) (blob.Content, int64, error) {
	key, size, err := s.blobKeyFound(ctx, d)
	if err != nil {
		return nil, 0, err
	}
	return blob.NewRangedContent(ctx, size, func(ctx context.Context, off int64) (io.ReadCloser, error) {
		return s.download(ctx, key, off, 0)
	}), size, nil
}

// download opens bytes [off, off+count) of key (count 0: to the end).
func (s *Store) download(ctx context.Context, key string, off, count int64) (io.ReadCloser, error) {
	resp, err := s.container.NewBlobClient(key).DownloadStream(ctx, &azb.DownloadStreamOptions{
		Range: azb.HTTPRange{Offset: off, Count: count},
	})
	if err != nil {
		if isNotFound(err) {
			return nil, blob.ErrNotFound
		}
		return nil, fmt.Errorf("download %s: %w", key, err)
	}
	return resp.Body, nil
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

// remove deletes key; a missing key is not an error.
func (s *Store) remove(ctx context.Context, key string) error {
	_, err := s.container.NewBlobClient(key).Delete(ctx, nil)
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// RedirectURL implements blob.Redirector with a read-only SAS URL.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	key, _, err := s.blobKeyFound(ctx, d)
	if err != nil {
		return "", err
	}
	u, err := s.signedURL(ctx, s.container.NewBlobClient(key).URL(), s.redirectExpiry)
	if err != nil {
		return "", fmt.Errorf("SAS URL for blob %s: %w", d, err)
	}
	return u, nil
}

// Walk implements blob.Store. Keys that are not blobs/<alg>/<hex[:2]>/<hex>
// with a valid digest are skipped; registry:2's blobs are included.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	own := map[digest.Digest]bool{}
	base := s.prefix + "blobs/"
	err := s.list(ctx, base, func(name string, size int64, _ time.Time) error {
		parts := strings.Split(strings.TrimPrefix(name, base), "/")
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
		return fn(d, size)
	})
	if err != nil || !s.legacy {
		return err
	}
	return s.walkLegacy(ctx, own, fn)
}

// list calls fn for every blob whose name starts with prefix.
func (s *Store) list(ctx context.Context, prefix string, fn func(name string, size int64, mod time.Time) error) error {
	pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil {
				continue
			}
			var size int64
			var mod time.Time
			if p := item.Properties; p != nil {
				if p.ContentLength != nil {
					size = *p.ContentLength
				}
				if p.LastModified != nil {
					mod = *p.LastModified
				}
			}
			if err := fn(*item.Name, size, mod); err != nil {
				return err
			}
		}
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

// WriteUpload implements blob.Store. The bytes of r are staged as blocks of
// the upload blob (one staged while the next is read), then the block list
// of the blocks before offset and the new ones is committed: after that one
// request the upload blob holds exactly the upload's bytes. The bytes
// between the last full block before offset and offset (a small last
// block, or the head of a block that straddles offset) are read back from
// the upload blob and staged again in front of r's, like the S3 store's
// tail, so small chunks do not pile up towards Azure's 50,000 blocks; a big
// straddling block's head is copied on the service instead. When r fails,
// the bytes read before are committed and counted.
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
	bb := s.container.NewBlockBlobClient(s.dataKey(id))
	next := &uploadState{}
	tailStart, err := s.keepBefore(ctx, bb, st, offset, next)
	if err != nil {
		return 0, nil, err
	}
	w := &blockWriter{s: s, bb: bb, id: id, next: next, tailStart: tailStart, tailLen: offset - tailStart}
	n, readErr, err := w.stageFrom(ctx, r, offset == end)
	if err != nil {
		return 0, nil, errors.Join(err, readErr)
	}
	if n == 0 && offset == end {
		return 0, state, readErr // nothing new, nothing dropped
	}
	if len(next.Blocks) > maxBlocks {
		return 0, nil, fmt.Errorf("upload %s: more than %d blocks; send larger chunks: %w", id, maxBlocks, errors.Join(readErr, blob.ErrFull))
	}
	if _, err := bb.CommitBlockList(ctx, next.ids(), &blockblob.CommitBlockListOptions{}); err != nil {
		return 0, nil, errors.Join(fmt.Errorf("commit blocks of upload %s: %w", id, err), readErr)
	}
	enc, err := next.encode()
	if err != nil {
		return 0, nil, err
	}
	return n, enc, readErr
}

// keepBefore puts into next the blocks of st that are kept as they are and
// returns where the bytes to stage again start: the blocks ending at or
// before offset are kept, except a last one smaller than a block; the head
// of a straddling block of a block's size or more is copied on the server
// from the committed upload blob into a new block.
func (s *Store) keepBefore(ctx context.Context, bb *blockblob.Client, st *uploadState, offset int64, next *uploadState) (int64, error) {
	var pos int64
	for _, b := range st.Blocks {
		if pos+b.Size > offset {
			break
		}
		next.Blocks = append(next.Blocks, b)
		pos += b.Size
	}
	if k := len(next.Blocks); pos == offset && k > 0 && next.Blocks[k-1].Size < s.blockSize {
		pos -= next.Blocks[k-1].Size
		next.Blocks = next.Blocks[:k-1]
	}
	if offset-pos < s.blockSize {
		return pos, nil
	}
	src, err := s.signedURL(ctx, bb.BlobClient().URL(), time.Hour)
	if err != nil {
		return 0, err
	}
	nb := block{ID: newBlockID(), Size: offset - pos}
	_, err = bb.StageBlockFromURL(ctx, nb.ID, src, &blockblob.StageBlockFromURLOptions{
		Range: azb.HTTPRange{Offset: pos, Count: nb.Size},
	})
	if err != nil {
		return 0, fmt.Errorf("cut block at %d of %s: %w", offset, bb.URL(), err)
	}
	next.Blocks = append(next.Blocks, nb)
	return offset, nil
}

// blockWriter stages the bytes of one write as blocks.
type blockWriter struct {
	s    *Store
	bb   *blockblob.Client
	id   string
	next *uploadState
	// tailLen bytes of the upload blob from tailStart go in front of the
	// write's, read back when the first block is staged.
	tailStart, tailLen int64
}

// stageFrom reads r to its end in blocks of blockSize and stages each,
// with at most one staging in flight while the next block is read. It
// returns the bytes of r staged (all those read when staging succeeded),
// the reader's error and a staging error. When r holds nothing and
// unchanged is set, nothing is staged (the tail stays as it is).
func (w *blockWriter) stageFrom(ctx context.Context, r io.Reader, unchanged bool) (int64, error, error) {
	buf := make([]byte, w.tailLen, w.s.blockSize)
	tailLoaded := w.tailLen == 0
	var spare []byte
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
	stage := func(data []byte) error {
		if !tailLoaded {
			if err := w.readTail(ctx, data[:w.tailLen]); err != nil {
				return err
			}
			tailLoaded = true
		}
		if err := wait(); err != nil {
			return err
		}
		b := block{ID: newBlockID(), Size: int64(len(data))}
		w.next.Blocks = append(w.next.Blocks, b)
		done := make(chan error, 1)
		go func() {
			_, err := w.bb.StageBlock(ctx, b.ID, streaming.NopCloser(bytes.NewReader(data)), nil)
			if err != nil {
				err = fmt.Errorf("stage block of upload %s: %w", w.id, err)
			}
			done <- err
		}()
		inflight = done
		return nil
	}
	var n int64
	var readErr error
	for {
		k, err := blob.Fill(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		n += int64(k)
		if len(buf) == cap(buf) {
			if err := stage(buf); err != nil {
				return 0, nil, err
			}
			if spare == nil {
				spare = make([]byte, 0, w.s.blockSize)
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
	if n == 0 && unchanged {
		return 0, readErr, nil
	}
	if len(buf) > 0 {
		if err := stage(buf); err != nil {
			return 0, nil, err
		}
	}
	if err := wait(); err != nil {
		return 0, nil, err
	}
	return n, readErr, nil
}

// readTail reads the tail bytes back from the committed upload blob.
func (w *blockWriter) readTail(ctx context.Context, dst []byte) error {
	rc, err := w.s.download(ctx, w.s.dataKey(w.id), w.tailStart, int64(len(dst)))
	if err != nil {
		return fmt.Errorf("read tail of upload %s: %w", w.id, err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, dst); err != nil {
		return fmt.Errorf("read tail of upload %s: %w", w.id, err)
	}
	return nil
}

// OpenUpload implements blob.Store: the upload blob holds the bytes.
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
	if size <= 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	rc, err := s.download(ctx, s.dataKey(id), 0, size)
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, err)
	}
	return rc, nil
}

// CommitUpload implements blob.Store: the first size bytes of the upload
// blob are staged as blocks of the final blob with Put Block From URL
// (copied by the service, several ranges at a time), and one Put Block List
// with If-None-Match: * makes the final blob appear, complete. A commit of
// the same content that won the race is success. The upload blob is removed
// afterwards.
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
	final := s.container.NewBlockBlobClient(s.blobKey(d))
	if _, err := final.GetProperties(ctx, nil); err == nil {
		s.cleanupUpload(ctx, id)
		return nil
	} else if !isNotFound(err) {
		return fmt.Errorf("commit upload %s: stat %s: %w", id, d, err)
	}
	ids, err := s.stageCopy(ctx, s.dataKey(id), final, size)
	if err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	_, err = final.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		AccessConditions: &azb.AccessConditions{ModifiedAccessConditions: &azb.ModifiedAccessConditions{IfNoneMatch: to(azcore.ETagAny)}},
	})
	if err != nil && !s.exists(ctx, final, size) {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	s.cleanupUpload(ctx, id)
	return nil
}

// exists reports whether bb is a blob of size bytes (a concurrent commit
// of the same digest put it there).
func (s *Store) exists(ctx context.Context, bb *blockblob.Client, size int64) bool {
	p, err := bb.GetProperties(ctx, nil)
	return err == nil && p.ContentLength != nil && *p.ContentLength == size
}

// stageCopy stages bytes [0, size) of src as blocks of dst, copied by the
// service, and returns the block ids in order.
func (s *Store) stageCopy(ctx context.Context, src string, dst *blockblob.Client, size int64) ([]string, error) {
	if size == 0 {
		return []string{}, nil
	}
	srcURL, err := s.signedURL(ctx, s.container.NewBlobClient(src).URL(), time.Hour)
	if err != nil {
		return nil, err
	}
	n := int((size + copyBlockSize - 1) / copyBlockSize)
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, copyParallelism)
	var wg sync.WaitGroup
	copyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range n {
		ids[i] = newBlockID()
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			off := int64(i) * copyBlockSize
			_, err := dst.StageBlockFromURL(copyCtx, ids[i], srcURL, &blockblob.StageBlockFromURLOptions{
				Range: azb.HTTPRange{Offset: off, Count: min(copyBlockSize, size-off)},
			})
			if err != nil {
				errs[i] = fmt.Errorf("copy bytes from %d: %w", off, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// cleanupUpload removes a committed upload's blob, best effort: leftovers
// are found by ListUploads and purged with orphaned uploads.
func (s *Store) cleanupUpload(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = s.removePrefix(ctx, s.uploadPrefix(id))
}

// removePrefix deletes every blob under prefix.
func (s *Store) removePrefix(ctx context.Context, prefix string) error {
	var errs []error
	err := s.list(ctx, prefix, func(name string, _ int64, _ time.Time) error {
		if err := s.remove(ctx, name); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// CancelUpload implements blob.Store: everything under the upload's prefix
// goes (uncommitted blocks go with their blob).
func (s *Store) CancelUpload(ctx context.Context, id string, _ blob.UploadState) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	if err := s.removePrefix(ctx, s.uploadPrefix(id)); err != nil {
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	return nil
}

// ListUploads implements blob.Store: ids with a blob under uploads/.
func (s *Store) ListUploads(ctx context.Context) ([]blob.UploadInfo, error) {
	base := s.prefix + "uploads/"
	seen := map[string]time.Time{}
	err := s.list(ctx, base, func(name string, _ int64, mod time.Time) error {
		id, rest, ok := strings.Cut(strings.TrimPrefix(name, base), "/")
		if !ok || id == "" || rest == "" {
			return nil
		}
		if old, ok := seen[id]; !ok || mod.After(old) {
			seen[id] = mod
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

// SAS.

// signedURL returns blobURL with a read-only SAS valid for expiry: signed
// with the account key, or with a user delegation key under Entra ID.
func (s *Store) signedURL(ctx context.Context, blobURL string, expiry time.Duration) (string, error) {
	parts, err := azblob.ParseURL(blobURL)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", blobURL, err)
	}
	now := time.Now().UTC()
	v := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-sasSkew),
		ExpiryTime:    now.Add(expiry),
		Permissions:   (&sas.BlobPermissions{Read: true}).String(),
		ContainerName: parts.ContainerName,
		BlobName:      parts.BlobName,
	}
	if s.insecure {
		v.Protocol = sas.ProtocolHTTPSandHTTP
	}
	var qp sas.QueryParameters
	if s.sharedKey != nil {
		qp, err = v.SignWithSharedKey(s.sharedKey)
	} else {
		var udc *service.UserDelegationCredential
		if udc, err = s.delegation.get(ctx, s.service, now, expiry); err == nil {
			qp, err = v.SignWithUserDelegation(udc)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sign SAS for %s: %w", parts.BlobName, err)
	}
	return blobURL + "?" + qp.Encode(), nil
}

// delegationCache keeps a user delegation key while it is valid for the
// SAS URLs being signed (getting one is a request to the service).
type delegationCache struct {
	mu      sync.Mutex
	cred    *service.UserDelegationCredential
	expires time.Time
}

// delegationLife is how long a fetched user delegation key is valid.
const delegationLife = 24 * time.Hour

func (c *delegationCache) get(ctx context.Context, svc *service.Client, now time.Time, need time.Duration) (*service.UserDelegationCredential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cred != nil && now.Add(need).Before(c.expires) {
		return c.cred, nil
	}
	start, expires := now.Add(-sasSkew), now.Add(delegationLife)
	cred, err := svc.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  to(start.Format(sas.TimeFormat)),
		Expiry: to(expires.Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("get user delegation key: %w", err)
	}
	c.cred, c.expires = cred, expires
	return cred, nil
}

func to[T any](v T) *T { return &v }
