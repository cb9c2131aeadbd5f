package server

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/diskspace"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// BallastPath is the file under the root directory that holds half of
// storage.reserve preallocated, given up when the disk is nearly full.
func BallastPath(root string) string { return filepath.Join(root, "reserve") }

// spaceGuard keeps storage.reserve on the filesystem of the root directory
// when it holds upload bytes or the SQLite database. It returns nil when
// nothing local is stored (an object store and PostgreSQL) or the reserve is 0.
func spaceGuard(cfg *config.Config, log *slog.Logger) (*diskspace.Guard, error) {
	root := cfg.Storage.Filesystem.RootDirectory
	var dirs []string
	if cfg.Storage.S3 == nil && cfg.Storage.Azure == nil && cfg.Storage.GCS == nil {
		dirs = append(dirs, filepath.Join(root, "uploads"))
	}
	if cfg.Database == nil {
		dirs = append(dirs, filepath.Dir(MetadataPath(root)))
	}
	if len(dirs) == 0 {
		return nil, nil
	}
	reserve, err := reserveBytes(cfg.Storage.Reserve, dirs[0])
	if err != nil {
		return nil, err
	}
	g := diskspace.NewGuard(reserve, BallastPath(root), log, dirs...)
	if reserve <= 0 {
		prepareSpace(g, log) // removes the ballast an earlier setting left
		return nil, nil
	}
	return g, nil
}

// reserveBytes is storage.reserve, or its default for the filesystem of dir.
func reserveBytes(set *config.Size, dir string) (int64, error) {
	if set != nil {
		return int64(*set), nil
	}
	u, err := diskspace.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("storage.reserve: %w", err)
	}
	return diskspace.AutoReserve(u.Total), nil
}

// watchSpace makes the metadata store give back the reserve before a write
// when the disk is nearly full.
func watchSpace(md meta.Store, g *diskspace.Guard) {
	if s, ok := md.(*meta.SQL); ok && g != nil {
		s.SetBeforeWrite(g.Relieve)
	}
}

// registrySpace is the guard as the registry sees it (nil when off).
func registrySpace(g *diskspace.Guard) registry.Space {
	if g == nil {
		return nil
	}
	return guardSpace{g}
}

// guardSpace reports the space left counting what the ballast holds back:
// uploads stop when that falls under the reserve.
type guardSpace struct{ g *diskspace.Guard }

func (s guardSpace) Free() (free, reserve int64, err error) {
	st, err := s.g.Check()
	if err != nil {
		return 0, 0, err
	}
	return st.Free + st.Held, st.Reserve, nil
}

// prepareSpace sizes the ballast at start (storage.reserve may have
// changed) and fills it when there is room. A reserve that cannot be kept
// is logged, not fatal: the watermark still refuses uploads on a full disk.
func prepareSpace(g *diskspace.Guard, log *slog.Logger) {
	if g == nil {
		return
	}
	if err := g.Prepare(); err != nil {
		log.Warn("storage.reserve could not be prepared", "err", err)
	}
}
