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
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testCert makes a certificate for key, signed by parent (self-signed when
// parent is nil).
func testCert(t testing.TB, cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, ca bool) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemCerts(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// signClaims signs claims with key and the given extra headers, as an
// external token server would.
func signClaims(t testing.TB, method jwt.SigningMethod, key any, hdr map[string]any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func externalClaims(iss, aud, sub string, exp time.Time, access ...Scope) *Claims {
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: iss, Subject: sub, Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now()),
		},
		Access: access,
	}
}

var keyIDRE = regexp.MustCompile(`^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$`)

func TestKeyID(t *testing.T) {
	for name, pub := range map[string]crypto.PublicKey{
		"ec":      ecKey(t).Public(),
		"rsa":     rsaKey(t).Public(),
		"ed25519": func() crypto.PublicKey { p, _, _ := ed25519.GenerateKey(rand.Reader); return p }(),
	} {
		id, err := KeyID(pub)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !keyIDRE.MatchString(id) {
			t.Errorf("%s: KeyID %q is not 12 groups of 4 base32 characters joined by ':'", name, id)
		}
		// libtrust's definition, computed independently.
		der, _ := x509.MarshalPKIXPublicKey(pub)
		sum := sha256.Sum256(der)
		enc := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
		var groups []string
		for i := 0; i < len(enc); i += 4 {
			groups = append(groups, enc[i:i+4])
		}
		if want := strings.Join(groups, ":"); id != want {
			t.Errorf("%s: KeyID %q, want %q", name, id, want)
		}
		again, _ := KeyID(pub)
		if again != id {
			t.Errorf("%s: KeyID not deterministic", name)
		}
	}
	a, _ := KeyID(ecKey(t).Public())
	b, _ := KeyID(ecKey(t).Public())
	if a == b {
		t.Errorf("two keys, one KeyID %q", a)
	}
	if _, err := KeyID("not a key"); err == nil {
		t.Errorf("KeyID of a non-key: no error")
	}
}

func TestSignerVerifierRoundTrip(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = edPub
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, key := range map[string]crypto.Signer{"ES256": ecKey(t), "ES384": p384, "RS256": rsaKey(t), "EdDSA": edPriv} {
		t.Run(name, func(t *testing.T) {
			s, err := NewSigner(key, "wharf-iss", "wharf-svc", 5*time.Minute, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewVerifier("wharf-iss", "wharf-svc", []crypto.PublicKey{key.Public()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			access := []Scope{{"repository", "bob/app", []string{"pull", "push"}}, {"registry", "catalog", []string{"*"}}}
			tok, ttl, err := s.Issue("bob", access)
			if err != nil {
				t.Fatal(err)
			}
			if ttl != 5*time.Minute {
				t.Errorf("ttl %v", ttl)
			}
			c, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "bob" || c.Issuer != "wharf-iss" || !reflect.DeepEqual(c.Access, access) || c.Refresh {
				t.Errorf("claims %+v", c)
			}
			if c.ID == "" || c.ExpiresAt == nil || c.IssuedAt == nil || c.NotBefore == nil {
				t.Errorf("registered claims incomplete: %+v", c.RegisteredClaims)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 5*time.Minute {
				t.Errorf("lifetime %v, want 5m", got)
			}
			// Header: the algorithm of the key and its libtrust key id.
			hdr := decodeHeader(t, tok)
			kid, _ := KeyID(key.Public())
			if hdr["kid"] != kid || hdr["alg"] != name {
				t.Errorf("header %v, want alg %s kid %s", hdr, name, kid)
			}
			// An empty grant is an empty access list, not a missing one.
			tok, _, _ = s.Issue("", nil)
			if !strings.Contains(decodePayload(t, tok), `"access":[]`) {
				t.Errorf("empty grant payload: %s", decodePayload(t, tok))
			}
			// Refresh tokens are marked and carry no access.
			rt, err := s.IssueRefresh("bob")
			if err != nil {
				t.Fatal(err)
			}
			rc, err := v.Verify(rt)
			if err != nil || !rc.Refresh || len(rc.Access) != 0 || rc.Subject != "bob" {
				t.Errorf("refresh token: %+v, %v", rc, err)
			}
			if got := rc.ExpiresAt.Sub(rc.IssuedAt.Time); got != time.Hour {
				t.Errorf("refresh lifetime %v, want 1h", got)
			}
			// Two tokens differ (jti).
			t1, _, _ := s.Issue("bob", access)
			t2, _, _ := s.Issue("bob", access)
			if t1 == t2 {
				t.Errorf("two tokens are identical")
			}
		})
	}
}

func decodeHeader(t testing.TB, tok string) map[string]any {
	t.Helper()
	part, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func decodePayload(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewSignerRejectsUnsupportedKeys(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if _, err := NewSigner(p224, "i", "s", time.Minute, time.Hour); err == nil {
		t.Errorf("P-224 key accepted")
	}
}

func TestVerifierRejections(t *testing.T) {
	key := ecKey(t)
	other := ecKey(t)
	s, _ := NewSigner(key, "iss", "svc", 5*time.Minute, time.Hour)
	v, _ := NewVerifier("iss", "svc", []crypto.PublicKey{key.Public()}, nil)
	kid, _ := KeyID(key.Public())
	otherKid, _ := KeyID(other.Public())
	now := time.Now()
	good := externalClaims("iss", "svc", "bob", now.Add(time.Minute))

	tok, _, _ := s.Issue("bob", nil)
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"iss","aud":["svc"],"sub":"alice","exp":9999999999,"access":[{"type":"registry","name":"catalog","actions":["*"]}]}`)) + "." + parts[2]

	expiredSigner, _ := NewSigner(key, "iss", "svc", time.Minute, time.Hour)
	expiredSigner.now = func() time.Time { return now.Add(-2 * time.Minute) }
	expired, _, _ := expiredSigner.Issue("bob", nil)
	futureSigner, _ := NewSigner(key, "iss", "svc", time.Minute, time.Hour)
	futureSigner.now = func() time.Time { return now.Add(10 * time.Minute) }
	notYet, _, _ := futureSigner.Issue("bob", nil)
	// Within the 30 s leeway both ways.
	slightlyOld, _ := NewSigner(key, "iss", "svc", time.Minute, time.Hour)
	slightlyOld.now = func() time.Time { return now.Add(-time.Minute - 10*time.Second) }
	justExpired, _, _ := slightlyOld.Issue("bob", nil)

	noExp := externalClaims("iss", "svc", "bob", now)
	noExp.ExpiresAt = nil

	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"good", tok, true},
		{"external, kid", signClaims(t, jwt.SigningMethodES256, key, map[string]any{"kid": kid}, good), true},
		{"external, no kid, single trusted key", signClaims(t, jwt.SigningMethodES256, key, nil, good), true},
		{"expired within leeway", justExpired, true},
		{"expired", expired, false},
		{"not yet valid", notYet, false},
		{"no exp", signClaims(t, jwt.SigningMethodES256, key, map[string]any{"kid": kid}, noExp), false},
		{"wrong issuer", signClaims(t, jwt.SigningMethodES256, key, map[string]any{"kid": kid}, externalClaims("evil", "svc", "bob", now.Add(time.Minute))), false},
		{"wrong audience", signClaims(t, jwt.SigningMethodES256, key, map[string]any{"kid": kid}, externalClaims("iss", "other", "bob", now.Add(time.Minute))), false},
		{"unknown kid", signClaims(t, jwt.SigningMethodES256, other, map[string]any{"kid": otherKid}, good), false},
		{"trusted kid, other key's signature", signClaims(t, jwt.SigningMethodES256, other, map[string]any{"kid": kid}, good), false},
		{"no kid, other key", signClaims(t, jwt.SigningMethodES256, other, nil, good), false},
		{"tampered payload", tampered, false},
		{"alg none", signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": kid}, good), false},
		{"HS256 with the public key as secret", signClaims(t, jwt.SigningMethodHS256, mustPKIX(t, key.Public()), map[string]any{"kid": kid}, good), false},
		{"x5c without roots is ignored, kid decides", signClaims(t, jwt.SigningMethodES256, key, map[string]any{"kid": kid, "x5c": []string{"AAAA"}}, good), true},
		{"garbage", "not.a.token", false},
		{"empty", "", false},
	} {
		c, err := v.Verify(tc.tok)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v (claims %+v)", tc.name, err, tc.ok, c)
		}
	}
}

func mustPKIX(t testing.TB, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerifierNoKidSeveralKeys(t *testing.T) {
	a, b := ecKey(t), ecKey(t)
	v, _ := NewVerifier("iss", "svc", []crypto.PublicKey{a.Public(), b.Public()}, nil)
	good := externalClaims("iss", "svc", "bob", time.Now().Add(time.Minute))
	if _, err := v.Verify(signClaims(t, jwt.SigningMethodES256, a, nil, good)); err == nil {
		t.Errorf("token without kid accepted though several keys are trusted")
	}
	kb, _ := KeyID(b.Public())
	if _, err := v.Verify(signClaims(t, jwt.SigningMethodES256, b, map[string]any{"kid": kb}, good)); err != nil {
		t.Errorf("second key by kid: %v", err)
	}
	// AddKey trusts a key under an explicit id (JWKS).
	c := ecKey(t)
	v.AddKey("my-jwks-key", c.Public())
	if _, err := v.Verify(signClaims(t, jwt.SigningMethodES256, c, map[string]any{"kid": "my-jwks-key"}, good)); err != nil {
		t.Errorf("AddKey: %v", err)
	}
}

func TestVerifierX5C(t *testing.T) {
	caKey := ecKey(t)
	ca := testCert(t, "token CA", caKey, nil, nil, true)
	interKey := ecKey(t)
	inter := testCert(t, "token intermediate", interKey, ca, caKey, true)
	leafKey := ecKey(t)
	leaf := testCert(t, "token signer", leafKey, inter, interKey, false)
	directKey := ecKey(t)
	direct := testCert(t, "direct signer", directKey, ca, caKey, false)

	otherCAKey := ecKey(t)
	otherCA := testCert(t, "other CA", otherCAKey, nil, nil, true)
	rogueKey := ecKey(t)
	rogue := testCert(t, "rogue", rogueKey, otherCA, otherCAKey, false)

	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.pem")
	os.WriteFile(bundle, pemCerts(ca), 0o644)
	roots, keys, err := LoadCertBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier("iss", "svc", keys, roots)
	if err != nil {
		t.Fatal(err)
	}
	x5c := func(certs ...*x509.Certificate) []string {
		var out []string
		for _, c := range certs {
			out = append(out, base64.StdEncoding.EncodeToString(c.Raw))
		}
		return out
	}
	good := externalClaims("iss", "svc", "bob", time.Now().Add(time.Minute), Scope{"repository", "bob/app", []string{"pull"}})
	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"leaf signed by the CA", signClaims(t, jwt.SigningMethodES256, directKey, map[string]any{"x5c": x5c(direct)}, good), true},
		{"chain through an intermediate", signClaims(t, jwt.SigningMethodES256, leafKey, map[string]any{"x5c": x5c(leaf, inter)}, good), true},
		{"intermediate missing", signClaims(t, jwt.SigningMethodES256, leafKey, map[string]any{"x5c": x5c(leaf)}, good), false},
		{"other CA", signClaims(t, jwt.SigningMethodES256, rogueKey, map[string]any{"x5c": x5c(rogue, otherCA)}, good), false},
		{"trusted chain, signed by another key", signClaims(t, jwt.SigningMethodES256, rogueKey, map[string]any{"x5c": x5c(direct)}, good), false},
		{"empty chain", signClaims(t, jwt.SigningMethodES256, directKey, map[string]any{"x5c": []string{}}, good), false},
		{"not base64", signClaims(t, jwt.SigningMethodES256, directKey, map[string]any{"x5c": []string{"!!!"}}, good), false},
		{"not a certificate", signClaims(t, jwt.SigningMethodES256, directKey, map[string]any{"x5c": []string{"AAAA"}}, good), false},
		{"not strings", signClaims(t, jwt.SigningMethodES256, directKey, map[string]any{"x5c": []int{1}}, good), false},
		// The bundle's own certificate key, by libtrust key id (how
		// distribution finds it) and as the single key without a kid.
		{"bundle key by kid", signClaims(t, jwt.SigningMethodES256, caKey, map[string]any{"kid": mustKeyID(t, caKey.Public())}, good), true},
		{"bundle key, no kid", signClaims(t, jwt.SigningMethodES256, caKey, nil, good), true},
		{"leaf key by kid, not in the bundle", signClaims(t, jwt.SigningMethodES256, directKey, map[string]any{"kid": mustKeyID(t, directKey.Public())}, good), false},
	} {
		c, err := v.Verify(tc.tok)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if tc.ok && (c.Subject != "bob" || len(c.Access) != 1) {
			t.Errorf("%s: claims %+v", tc.name, c)
		}
	}

	// An expired leaf certificate is refused even though the token is fresh.
	oldKey := ecKey(t)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "old"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, oldKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(signClaims(t, jwt.SigningMethodES256, oldKey, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(der)}}, good)); err == nil {
		t.Errorf("expired x5c leaf accepted")
	}
}

func mustKeyID(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	id, err := KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestLoadCertBundle(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := ecKey(t), rsaKey(t)
	c1 := testCert(t, "one", k1, nil, nil, true)
	c2 := testCert(t, "two", k2, nil, nil, true)
	p := filepath.Join(dir, "bundle.pem")
	// Non-certificate blocks are skipped.
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("x")})
	os.WriteFile(p, append(append(pemCerts(c1), keyPEM...), pemCerts(c2)...), 0o644)
	_, keys, err := LoadCertBundle(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !k1.PublicKey.Equal(keys[0]) || !k2.PublicKey.Equal(keys[1]) {
		t.Errorf("keys %v", keys)
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, keyPEM, 0o644)
	if _, _, err := LoadCertBundle(empty); err == nil {
		t.Errorf("bundle without certificates accepted")
	}
	if _, _, err := LoadCertBundle(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("missing bundle accepted")
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")}), 0o644)
	if _, _, err := LoadCertBundle(bad); err == nil {
		t.Errorf("corrupt certificate accepted")
	}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestLoadJWKS(t *testing.T) {
	ec := ecKey(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk := rsaKey(t)
	ecJWK := func(kid, crv string, k *ecdsa.PrivateKey) map[string]string {
		size := (k.Curve.Params().BitSize + 7) / 8
		return map[string]string{"kty": "EC", "kid": kid, "crv": crv,
			"x": b64u(k.X.FillBytes(make([]byte, size))), "y": b64u(k.Y.FillBytes(make([]byte, size)))}
	}
	rsaJWK := map[string]string{"kty": "RSA", "kid": "rsa-1", "n": b64u(rk.N.Bytes()), "e": b64u(big.NewInt(int64(rk.E)).Bytes())}
	write := func(keys ...map[string]string) string {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		p := filepath.Join(t.TempDir(), "jwks.json")
		os.WriteFile(p, b, 0o644)
		return p
	}
	set, err := LoadJWKS(write(ecJWK("ec-1", "P-256", ec), ecJWK("ec-2", "P-384", p384), rsaJWK))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 3 {
		t.Fatalf("%d keys, want 3", len(set))
	}
	if !ec.PublicKey.Equal(set["ec-1"]) || !p384.PublicKey.Equal(set["ec-2"]) || !rk.PublicKey.Equal(set["rsa-1"]) {
		t.Errorf("keys differ from the originals: %v", set)
	}
	// Tokens signed by a JWKS key verify under its kid.
	v, _ := NewVerifier("iss", "svc", nil, nil)
	for kid, k := range set {
		v.AddKey(kid, k)
	}
	good := externalClaims("iss", "svc", "bob", time.Now().Add(time.Minute))
	if _, err := v.Verify(signClaims(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": "rsa-1"}, good)); err != nil {
		t.Errorf("RS256 by JWKS kid: %v", err)
	}
	if _, err := v.Verify(signClaims(t, jwt.SigningMethodES256, ec, map[string]any{"kid": "ec-1"}, good)); err != nil {
		t.Errorf("ES256 by JWKS kid: %v", err)
	}
	if _, err := v.Verify(signClaims(t, jwt.SigningMethodES256, ec, map[string]any{"kid": "rsa-1"}, good)); err == nil {
		t.Errorf("EC signature under an RSA kid accepted")
	}

	for name, keys := range map[string][]map[string]string{
		"unsupported kty":   {{"kty": "oct", "kid": "k", "k": "AAAA"}},
		"unsupported curve": {ecJWK("x", "P-999", ec)},
		"bad base64":        {{"kty": "EC", "kid": "k", "crv": "P-256", "x": "!!", "y": "!!"}},
		"bad rsa base64":    {{"kty": "RSA", "kid": "k", "n": "!!", "e": "AQAB"}},
	} {
		if _, err := LoadJWKS(write(keys...)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	notJSON := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(notJSON, []byte("{"), 0o644)
	if _, err := LoadJWKS(notJSON); err == nil {
		t.Errorf("invalid JSON accepted")
	}
	if _, err := LoadJWKS(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("missing file accepted")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "auth", "key.pem")
	if _, err := LoadOrCreateKey(p, false); err == nil {
		t.Fatalf("missing key without create: no error")
	}
	k1, err := LoadOrCreateKey(p, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(p)); di.Mode().Perm()&0o077 != 0 {
		t.Errorf("key directory mode %v: readable by others", di.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Public().(*ecdsa.PublicKey).Equal(k2.Public()) {
		t.Errorf("second load generated a new key instead of reading the kept one")
	}
	if _, err := NewSigner(k2, "i", "s", time.Minute, time.Hour); err != nil {
		t.Errorf("generated key unusable: %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	ec := ecKey(t)
	rk := rsaKey(t)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ed)
	for name, tc := range map[string]struct {
		data []byte
		pub  crypto.PublicKey
	}{
		"EC PRIVATE KEY":  {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ec.Public()},
		"RSA PRIVATE KEY": {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), rk.Public()},
		"PKCS8 ed25519":   {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), ed.Public()},
		// openssl ecparam writes EC PARAMETERS before the key.
		"with EC PARAMETERS first": {append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), ec.Public()},
	} {
		k, err := ParsePrivateKey(tc.data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !tc.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Errorf("%s: wrong key", name)
		}
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"certificate": pemCerts(testCert(t, "x", ec, nil, nil, false)),
		"corrupt":     pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("junk")}),
	} {
		if _, err := ParsePrivateKey(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
