package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are a registry token's claims (Docker token authentication spec).
type Claims struct {
	jwt.RegisteredClaims
	Access []Scope `json:"access"`
	// Refresh marks wharf's refresh tokens, which grant nothing by
	// themselves and are accepted only by the token endpoint.
	Refresh bool `json:"wharf_refresh,omitempty"`
}

// Signer issues tokens with wharf's own key.
type Signer struct {
	key        crypto.Signer
	method     jwt.SigningMethod
	kid        string
	issuer     string
	service    string
	ttl        time.Duration
	refreshTTL time.Duration
	now        func() time.Time
}

// NewSigner returns a signer for key, which must be ECDSA P-256/384/521,
// RSA or Ed25519.
func NewSigner(key crypto.Signer, issuer, service string, ttl, refreshTTL time.Duration) (*Signer, error) {
	method, err := signingMethod(key)
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, method: method, kid: kid, issuer: issuer, service: service, ttl: ttl, refreshTTL: refreshTTL, now: time.Now}, nil
}

func signingMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, nil
		}
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, nil
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("unsupported signing key type %T", key)
}

// Issue returns an access token for sub granting access, and its lifetime.
func (s *Signer) Issue(sub string, access []Scope) (string, time.Duration, error) {
	if access == nil {
		access = []Scope{}
	}
	tok, err := s.sign(sub, s.ttl, Claims{Access: access})
	return tok, s.ttl, err
}

// IssueRefresh returns a refresh token for sub.
func (s *Signer) IssueRefresh(sub string) (string, error) {
	return s.sign(sub, s.refreshTTL, Claims{Refresh: true})
}

func (s *Signer) sign(sub string, ttl time.Duration, c Claims) (string, error) {
	now := s.now()
	var id [16]byte
	rand.Read(id[:])
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    s.issuer,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{s.service},
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	}
	t := jwt.NewWithClaims(s.method, c)
	t.Header["kid"] = s.kid
	out, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return out, nil
}

// Verifier checks tokens: signature by a trusted key, issuer, audience and
// time.
type Verifier struct {
	issuer  string
	service string
	keys    map[string]crypto.PublicKey // by kid
	roots   *x509.CertPool              // for tokens carrying an x5c chain
	only    crypto.PublicKey            // the single trusted key, for tokens without kid
	now     func() time.Time
}

// NewVerifier trusts keys (by key id) and, when roots is not nil, leaf
// certificates in a token's x5c header that chain to roots.
func NewVerifier(issuer, service string, keys []crypto.PublicKey, roots *x509.CertPool) (*Verifier, error) {
	v := &Verifier{issuer: issuer, service: service, keys: map[string]crypto.PublicKey{}, roots: roots, now: time.Now}
	for _, k := range keys {
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		v.keys[kid] = k
	}
	if len(keys) == 1 {
		v.only = keys[0]
	}
	return v, nil
}

// AddKey trusts key under an explicit id (from a JWKS).
func (v *Verifier) AddKey(kid string, key crypto.PublicKey) { v.keys[kid] = key }

var validMethods = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}

// Verify parses and checks a token.
func (v *Verifier) Verify(token string) (*Claims, error) {
	c := &Claims{}
	_, err := jwt.ParseWithClaims(token, c, v.keyFor,
		jwt.WithValidMethods(validMethods),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.service),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(v.now),
	)
	if err != nil {
		return nil, fmt.Errorf("invalid token: %w", err)
	}
	return c, nil
}

func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if chain, ok := t.Header["x5c"].([]any); ok && v.roots != nil {
		return v.chainKey(chain)
	}
	if kid, ok := t.Header["kid"].(string); ok {
		if k, ok := v.keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("unknown signing key %q", kid)
	}
	if v.only != nil {
		return v.only, nil
	}
	return nil, errors.New("token names no signing key")
}

// chainKey verifies an x5c certificate chain against the trusted roots and
// returns the leaf's public key.
func (v *Verifier) chainKey(chain []any) (any, error) {
	var certs []*x509.Certificate
	for _, c := range chain {
		s, ok := c.(string)
		if !ok {
			return nil, errors.New("x5c entry is not a string")
		}
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("empty x5c chain")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: v.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("x5c chain not trusted: %w", err)
	}
	return certs[0].PublicKey, nil
}

// KeyID is the key's id in distribution's (libtrust) format: the first 240
// bits of the SHA-256 of its DER public key, base32, in groups of four.
// Tokens from wharf carry it, so a distribution or any Docker token
// verifier can find the key in a certificate bundle.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	s := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String(), nil
}

// LoadOrCreateKey reads a PEM private key from path, or when it does not
// exist and create is true, generates an ECDSA P-256 key and writes it with
// mode 0600.
func LoadOrCreateKey(path string, create bool) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return ParsePrivateKey(data)
}

// NewKeyPEM generates a P-256 signing key, PKCS#8 in PEM.
func NewKeyPEM() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func createKey(path string) (crypto.Signer, error) {
	data, err := NewKeyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	return ParsePrivateKey(data)
}

// ParsePrivateKey reads the first private key in PEM data (PKCS#8, SEC 1
// EC or PKCS#1 RSA).
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("signing key: no PEM private key found")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("signing key: unsupported type %T", key)
		}
		return s, nil
	}
}

// LoadCertBundle reads PEM certificates: a pool of them and their keys.
func LoadCertBundle(path string) (*x509.CertPool, []crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("rootcertbundle: %w", err)
	}
	pool := x509.NewCertPool()
	var keys []crypto.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("rootcertbundle %s: %w", path, err)
		}
		pool.AddCert(cert)
		keys = append(keys, cert.PublicKey)
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("rootcertbundle %s: no certificates", path)
	}
	return pool, keys, nil
}

// LoadJWKS reads a JSON Web Key Set of EC and RSA public keys, by kid.
func LoadJWKS(path string) (map[string]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks %s: %w", path, err)
	}
	out := map[string]crypto.PublicKey{}
	for i, k := range set.Keys {
		var pub crypto.PublicKey
		switch k.Kty {
		case "EC":
			pub, err = jwkEC(k.Crv, k.X, k.Y)
		case "RSA":
			pub, err = jwkRSA(k.N, k.E)
		default:
			err = fmt.Errorf("unsupported kty %q", k.Kty)
		}
		if err != nil {
			return nil, fmt.Errorf("jwks %s: key %d: %w", path, i, err)
		}
		out[k.Kid] = pub
	}
	return out, nil
}

func jwkEC(crv, x, y string) (crypto.PublicKey, error) {
	curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
	c, ok := curves[crv]
	if !ok {
		return nil, fmt.Errorf("unsupported curve %q", crv)
	}
	xb, err1 := base64.RawURLEncoding.DecodeString(x)
	yb, err2 := base64.RawURLEncoding.DecodeString(y)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &ecdsa.PublicKey{Curve: c, X: new(big.Int).SetBytes(xb), Y: new(big.Int).SetBytes(yb)}, nil
}

func jwkRSA(n, e string) (crypto.PublicKey, error) {
	nb, err1 := base64.RawURLEncoding.DecodeString(n)
	eb, err2 := base64.RawURLEncoding.DecodeString(e)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}, nil
}
