package gcs

import (
	"testing"
	"time"
)

// testKey is an RSA key made for this test only.
const testKey = `-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDB3RdiLmgD6goc
5FwNjbl06KLv3eRSM/+s3330vXAhBEvfQUcxQmqZpdsFWB1KyhHdED/PIk0iIPCD
B8CCtCacCdXJsu1xrqB1rFnBRI45LNUMIuWGF6OiZmkgUvxoziQeJLE5gNGSaeZX
j3vh+LMN5pAUsON2FXwE+B214EvFGTAlzHmcYcT27p04GdWXIvf2vN8NtBA6DVTM
gNUA2B7Za1uurc1y7cn3TeTeOK8qInqoAjZPXb7U6uQWQPi4+BEbsyUx6BgPWwuO
os16AfB28LupgJELsAbF9nUzmQ/B0baKF2jl48RNFP7Os3L42AeCMdgi26hJwxIb
uOwi/qK1AgMBAAECggEABC1DR7ZAP3VXam/xG8ml6ULp38kkFjFQnOTjzdYXCF8T
U2gQpJsNuOm94kuXtfjMkbq75TaT+txC0k/kcex3uHztwj68pupgQqjH9kYH2muA
25YU4+K2f9U9BplDHu7yEEQyHU8NNN5bPB+3R5MYKICDMi7td6nW1jSST0zZ1RFA
Qei2BJlrYh4Ccgsp0uvzdtt2gWjRsnvbg/xh5VABNOX9oj8wi3tScVUXQbFT+1YK
bdH1aH5VYiVXqU1Ec9uDqboAWVRBHBQs6XHnavDudou9TixMm3u7PJysMSRyywf5
u/Ui0VEdwOlRYdRlVAD0ZCEnJDY4kLUlvhEPl++fAQKBgQDk6h8UFxgNLohD+UL6
O3BqOKaTAnPpvdWbft84M8X7PYIHn7yGmKD/Q+/cIbBzH1zRVwMLJHDRZKKcfmvY
JZLeA4kdixNqzjeSdx+BB4p29oYlQrNnWJ3WQWBVVUwtZGbVAq25PGvVDx9oOj+d
a3BTg+Z9F8APKxqFxFhW635nBQKBgQDYzUT6rUbR+XYzhlf3/RkZ7LH4fIGU2Ams
Rx91VRD1CB0VpaMsQsEzvOEw1/v3BseEWxRW9gglMWt8x4c2INFX2vHP7oR2E/FA
9OrY/DGZgXerFgMMuvyqSpX6ja+GW3cSIVzauuK1lSc2R/uaAzNqjOGbVwITJlNB
D8xWqvO78QKBgQCYLcxbXr7uhHCyP5L3J2ykMOUL9iV4zmqi5MUgZ8rGKy22Q8rg
77aX/GIIxZy367GYuW+ciK03ht9TiffHybLJRTByI3LVHiJzjB21eX3jeB/VxXHe
0lqbhPq1v+7UflqeYRl8e150VYlbkN2ZmUMjQhyILLHRY6ZOJylTH1r4wQKBgQCf
aqD0KwHOWD7gOELrKQKSG4fqDbNC/XBva4ToQ/rKEoNAbaGEZDmoj5SO0+KEjEmd
O1PDdfobTzGYeSclWBBXJ7lzihGAub1GZFFj6F2YYKjb9r2bWMt9dIa/y/trMkpl
3H5on88gcmJ4+Yk6gGwIRzuFe/8ckavaRYGdoOrEIQKBgBFGkcyldT4wGjWnQcdP
B6Jt3ZE8Xdh56oLlXL+3MFLjJAQlYjooTXe8holh0TQq+xj0oD3ncP4eN3DHH7d6
c654typGFSN5Jky2MCl4y4XJmhzDA/vkSqTgtykLk/2kwNx4Lo3fB1BWA5CsOOAT
nfw0zmsCiy5JO81HeNCC+Ebd
-----END PRIVATE KEY-----`

// TestSignedGetURL checks the V4 signing against URLs that
// cloud.google.com/go/storage's SignedURL produced for the same key, object,
// time and expiry (on Google's host and on an emulator over http), so that
// the switch to the JSON client changed no redirect.
func TestSignedGetURL(t *testing.T) {
	key, err := parsePrivateKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse("20060102T150405Z", "20261205T184946Z")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, scheme, want string }{
		{"storage.googleapis.com", "https", "https://storage.googleapis.com/wharf-bucket/root/blobs/sha256/ab/ab%20cd%2B%C3%A9?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=wharf%40wharf-test.iam.gserviceaccount.com%2F20261205%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261205T184946Z&X-Goog-Expires=1200&X-Goog-Signature=43d0f322111f37dc3599c00ece1e0477964724245c50f2104b271e89a9f82d93f7404c937022f67351db11863956a8d6c16e5f781040720ed8939f66c4eefe5551ec7e4acd46a24c80d0a36acbc1e956002934c3ff80f91655ddfee67c52d68caf36d64095a9cb1b7c752e74a70a8e481b35d00cebe6da1845a15e9579e976381889da98c3239c31f8c69435a8d641bd61c78270cb731a361b6fef6d344ccbd29df4cabf05b3760c34be8618bbadf30ee950e58171041c649222f23b7bc5513b0908c3baa79ca2c69d082e1dd91c18c84a139d3fbd368bc53f149fa1a3b74f02d9e27379b8d02af1ae2260ff5bf999b7c791d9a6b888478c4c9f006b332d3b22&X-Goog-SignedHeaders=host"},
		{"127.0.0.1:4443", "http", "http://127.0.0.1:4443/wharf-bucket/root/blobs/sha256/ab/ab%20cd%2B%C3%A9?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=wharf%40wharf-test.iam.gserviceaccount.com%2F20261205%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261205T184946Z&X-Goog-Expires=1200&X-Goog-Signature=5806819e7224f4bb9dc9a46abbf9da320ebd37a1be98aff516f52bf5345a1ff311eb1fe167b0e477b9f4fceb77f77a15428ab13a177274dd056aa3c43ba9956cd20a7250ef5613e60cef1430797ab7cb75dff56d9b57ffd10236f72495b4ad059b8c1cd4a35b3869d1d7ff3ed91ac54670480f16c8abb5dfd186f207cea70a58d37be961d0b7b0a589b9eacf36ff118ffd139361e993807e3ea79f16073c7e1e4bf7a7ae66eab768a70f775322b2fe5bfdde0faf34c2230ec1c240e3b418a678f0f8a71c0d98eebd5c86b72627e753588868e39f849f6ec13b74910bda4b330366e84bb5ea9bfd075decf6274e7a5ddc3fdf94d84f25a1d8cfee682a9df33087&X-Goog-SignedHeaders=host"},
	} {
		g := &signer{email: "wharf@wharf-test.iam.gserviceaccount.com", key: key, host: tc.host, scheme: tc.scheme}
		got, err := g.signedGetURL(t.Context(), "wharf-bucket", "root/blobs/sha256/ab/ab cd+\u00e9", 20*time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("signed URL on %s:\n got %s\nwant %s", tc.host, got, tc.want)
		}
	}
	g := &signer{email: "x@y", key: key, host: "h", scheme: "https"}
	if _, err := g.signedGetURL(t.Context(), "b", "o", 8*24*time.Hour, now); err == nil {
		t.Error("an expiry over 7 days was signed")
	}
}
