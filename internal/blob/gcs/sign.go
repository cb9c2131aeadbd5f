package gcs

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"
	iamcredentials "google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/option"
)

// maxSignedExpiry is the longest validity V4 signing allows (7 days).
const maxSignedExpiry = 7 * 24 * time.Hour

// signer signs V4 URLs for one service account: with its private key when
// wharf has it, else through the IAM Credentials signBlob API.
type signer struct {
	// email is the service account ("" until found: see account).
	email string
	key   *rsa.PrivateKey
	// keyErr is why the key given did not parse.
	keyErr error
	// copts are the store's client options (credentials, scopes), for
	// the IAM client that signs when there is no key.
	copts []option.ClientOption
	mu    sync.Mutex
	iam   *iamcredentials.Service
	// host and scheme of the URLs: storage.googleapis.com over https, or
	// the emulator.
	host, scheme string
	// credsJSON are the credentials the client found (Application Default
	// Credentials), to find the account in when no key was given.
	credsJSON []byte
}

// accountKey is what a service account key file holds for signing.
type accountKey struct {
	Type             string `json:"type"`
	Email            string `json:"client_email"`
	PrivateKey       string `json:"private_key"`
	ImpersonationURL string `json:"service_account_impersonation_url"`
}

func parsePrivateKey(p string) (*rsa.PrivateKey, error) {
	der := []byte(p)
	if b, _ := pem.Decode(der); b != nil {
		der = b.Bytes
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("private key is not RSA")
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return k, nil
}

// account returns the service account to sign as: the key's, else the
// one the credentials name (a key file, or an impersonated or external
// account), else the Compute Engine default one.
func (g *signer) account(ctx context.Context) (string, error) {
	if g.email != "" {
		return g.email, nil
	}
	err := errors.New("no credentials found and not on Google Compute Engine")
	if len(g.credsJSON) > 0 {
		var k accountKey
		if jerr := json.Unmarshal(g.credsJSON, &k); jerr != nil {
			err = jerr
		} else {
			switch k.Type {
			case "service_account":
				if k.Email != "" {
					return k.Email, nil
				}
				err = errors.New("empty service account client email")
			case "impersonated_service_account", "external_account":
				// .../serviceAccounts/<email>:generateAccessToken
				start, end := strings.LastIndex(k.ImpersonationURL, "/"), strings.LastIndex(k.ImpersonationURL, ":")
				if end > start {
					return k.ImpersonationURL[start+1 : end], nil
				}
				err = errors.New("no service account in the impersonation URL of the credentials")
			default:
				err = fmt.Errorf("credentials of type %q name no service account to sign as", k.Type)
			}
		}
	}
	if metadata.OnGCEWithContext(ctx) {
		email, merr := metadata.EmailWithContext(ctx, "default")
		if merr == nil && email != "" {
			return email, nil
		}
		err = errors.Join(err, merr)
	}
	return "", err
}

// sign returns the RSA-SHA256 signature of b.
func (g *signer) sign(ctx context.Context, email string, b []byte) ([]byte, error) {
	if g.keyErr != nil {
		return nil, g.keyErr
	}
	if g.key != nil {
		h := sha256.Sum256(b)
		return rsa.SignPKCS1v15(nil, g.key, crypto.SHA256, h[:])
	}
	svc, err := g.iamService(ctx)
	if err != nil {
		return nil, err
	}
	var resp *iamcredentials.SignBlobResponse
	err = retry(ctx, true, func() (err error) {
		resp, err = svc.Projects.ServiceAccounts.SignBlob("projects/-/serviceAccounts/"+email,
			&iamcredentials.SignBlobRequest{Payload: base64.StdEncoding.EncodeToString(b)}).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sign with IAM as %s: %w", email, err)
	}
	return base64.StdEncoding.DecodeString(resp.SignedBlob)
}

// iamService returns the IAM Credentials client, made on first use: only
// a store without a private key signs through it.
func (g *signer) iamService(ctx context.Context) (*iamcredentials.Service, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.iam == nil {
		// The client outlives this request: its credentials must not
		// end with the request's context.
		svc, err := iamcredentials.NewService(context.WithoutCancel(ctx), g.copts...)
		if err != nil {
			return nil, fmt.Errorf("IAM credentials client: %w", err)
		}
		g.iam = svc
	}
	return g.iam, nil
}

// signedGetURL returns a V4 signed URL for GET of object in bucket, valid
// for expiry from now, following Google's documented algorithm: a
// canonical request (method, path, sorted query, the host header,
// UNSIGNED-PAYLOAD) is hashed into a string to sign, and its RSA-SHA256
// signature goes in X-Goog-Signature.
func (g *signer) signedGetURL(ctx context.Context, bucket, object string, expiry time.Duration, now time.Time) (string, error) {
	if expiry > maxSignedExpiry {
		return "", fmt.Errorf("expiry %v is longer than the 7 days V4 signing allows", expiry)
	}
	email, err := g.account(ctx)
	if err != nil {
		return "", fmt.Errorf("find the service account to sign as: %w", err)
	}
	now = now.UTC()
	stamp := now.Format("20060102T150405Z")
	scope := now.Format("20060102") + "/auto/storage/goog4_request"
	query := map[string]string{
		"X-Goog-Algorithm":     "GOOG4-RSA-SHA256",
		"X-Goog-Credential":    email + "/" + scope,
		"X-Goog-Date":          stamp,
		"X-Goog-Expires":       strconv.FormatInt(int64(expiry/time.Second), 10),
		"X-Goog-SignedHeaders": "host",
	}
	path := "/" + bucket + "/" + uriEncode(object, false)
	canonical := strings.Join([]string{
		http.MethodGet,
		path,
		canonicalQuery(query),
		// The host without a port, as Google's client library signs it
		// (only an emulator has one, and it checks no signature).
		"host:" + hostname(g.host) + "\n",
		"host",
		"UNSIGNED-PAYLOAD",
	}, "\n")
	h := sha256.Sum256([]byte(canonical))
	toSign := "GOOG4-RSA-SHA256\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(h[:])
	sig, err := g.sign(ctx, email, []byte(toSign))
	if err != nil {
		return "", err
	}
	query["X-Goog-Signature"] = hex.EncodeToString(sig)
	return g.scheme + "://" + g.host + path + "?" + canonicalQuery(query), nil
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// canonicalQuery encodes q sorted by name.
func canonicalQuery(q map[string]string) string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(uriEncode(k, true) + "=" + uriEncode(q[k], true))
	}
	return b.String()
}

// uriEncode percent-encodes s as RFC 3986 asks of V4 signing: everything
// but unreserved characters, and "/" too unless it separates a path.
func uriEncode(s string, slash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && !slash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
