package e2e

import (
	"fmt"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BenchmarkObjectStorePushPull pushes and pulls one 64 MiB layer through a
// wharf node (PostgreSQL metadata, redirects off so the bytes pass through
// wharf) on each object store's emulator, with go-containerregistry's
// client (one monolithic PATCH per push).
func BenchmarkObjectStorePushPull(b *testing.B) {
	const size = 64 << 20
	for _, backend := range soBackendNames {
		b.Run(backend, func(b *testing.B) {
			c := soStartCluster(b, soNewStoresOn(b, backend), 1, soSettings{RedirectDisable: true})
			repo, err := name.NewRepository(c.Nodes[0].Host()+"/bench/layers", name.Insecure)
			if err != nil {
				b.Fatal(err)
			}
			data := whRandBytes(77, size)
			seq := 0
			b.Run("push", func(b *testing.B) {
				b.SetBytes(size)
				for range b.N {
					seq++
					data[0], data[1], data[2] = byte(seq), byte(seq>>8), 0xfe
					l := static.NewLayer(data, types.OCILayer)
					if err := remote.WriteLayer(repo, l, whRemote(b)...); err != nil {
						b.Fatalf("push: %v", err)
					}
				}
			})
			l := static.NewLayer(data, types.OCILayer)
			dg, _ := l.Digest()
			b.Run("pull", func(b *testing.B) {
				b.SetBytes(size)
				for range b.N {
					got, err := remote.Layer(repo.Digest(dg.String()), whRemote(b)...)
					if err != nil {
						b.Fatal(err)
					}
					rc, err := got.Compressed()
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil || n != size {
						b.Fatal(fmt.Errorf("pull: %d bytes: %w", n, err))
					}
				}
			})
		})
	}
}
