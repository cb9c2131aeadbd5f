package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// OCI media types of the images the bench pushes.
const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// blob is content with its digest, computed once.
type blob struct {
	data   []byte
	digest string
}

func newBlob(data []byte) blob { return blob{data: data, digest: sha256Digest(data)} }

func sha256Digest(p []byte) string {
	sum := sha256.Sum256(p)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// image is a config, its layers and the OCI manifest naming them.
type image struct {
	config   blob
	layers   []blob
	manifest blob
}

// blobs returns the config followed by the layers.
func (im *image) blobs() []blob { return append([]blob{im.config}, im.layers...) }

// randomBytes returns n bytes from a ChaCha8 stream seeded with seed:
// random enough that no two layers share content, and fast enough (over
// 1 GB/s) that generating data never bounds a figure.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "wharf-bench-random-data")
	p := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(p) // never fails
	return p
}

// configBlob returns a 1 KiB image config (valid JSON) unique to seed.
func configBlob(seed uint64) blob {
	head := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]},"comment":"bench %d `, seed)
	const size = 1024
	tail := `"}`
	pad := strings.Repeat("x", max(0, size-len(head)-len(tail)))
	return newBlob([]byte(head + pad + tail))
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int    `json:"size"`
}

type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// newImage builds the manifest for config and layers.
func newImage(config blob, layers []blob) image {
	m := ociManifest{
		SchemaVersion: 2,
		MediaType:     mediaManifest,
		Config:        descriptor{mediaConfig, config.digest, len(config.data)},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, descriptor{mediaLayer, l.digest, len(l.data)})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err) // a struct of strings and ints always marshals
	}
	return image{config: config, layers: layers, manifest: newBlob(raw)}
}

// smallImage is a 1 KiB config plus layerCount random layers of layerSize
// bytes, all unique to seed.
func smallImage(seed uint64, layerCount, layerSize int) image {
	layers := make([]blob, layerCount)
	for i := range layers {
		layers[i] = newBlob(randomBytes(seed<<8|uint64(i), layerSize))
	}
	return newImage(configBlob(seed), layers)
}
