// Package migrate copies one wharf deployment's metadata (and, when asked,
// its blobs) into another's stores: SQLite to PostgreSQL, a filesystem to
// S3. The copy goes table by table in key order and writes only rows the
// target lacks, so a run that stopped is continued by running it again,
// and a finished one run again writes nothing. Before writing it checks
// that everything the target holds is the source's (a target that serves
// other data is refused); at the end it compares both, row by row.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
)

// DefaultBatch is how many rows are read, and written in one transaction,
// at a time unless Options.Batch says otherwise.
const DefaultBatch = 500

// progressEvery bounds how often a table's progress is reported.
const progressEvery = 2 * time.Second

// Stores are one deployment's stores.
type Stores struct {
	Meta  *meta.SQL
	Blobs blob.Store
}

// Options tune a migration.
type Options struct {
	// Blobs copies the bytes of every blob not kept inline into the
	// target's blob store. Without it the target's blob store must already
	// hold them (the same directory or bucket as the source's).
	Blobs bool
	// Batch is how many rows are read, and written in one transaction, at
	// a time (0: DefaultBatch).
	Batch int
	// Progress receives one line per table and regular progress lines;
	// nil: none.
	Progress io.Writer
}

// ErrTargetDiffers is returned when the target holds data that is not the
// source's: it is another deployment, not an earlier run of this copy.
var ErrTargetDiffers = errors.New("the target holds other data than the source")

// Report says what a migration did.
type Report struct {
	Rows        map[string]int64 // rows per table in the source
	Written     int64            // rows written into the target by this run
	BlobsCopied int64            // blobs whose bytes this run copied
	BytesCopied int64
}

// Run copies src into dst and verifies the copy.
func Run(ctx context.Context, src, dst Stores, opts Options) (*Report, error) {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	m := &migration{src: src, dst: dst, opts: opts, rep: &Report{Rows: map[string]int64{}}}
	m.logf("checking the target")
	for _, table := range meta.ExportTables() {
		d, err := diffTable(ctx, src.Meta, dst.Meta, table, opts.Batch)
		if err != nil {
			return nil, err
		}
		if d.onlyDst > 0 || d.differ > 0 {
			return nil, fmt.Errorf("%w: table %s has %d rows the source lacks and %d that differ (first: %v)",
				ErrTargetDiffers, table, d.onlyDst, d.differ, d.first)
		}
	}
	for _, table := range meta.ExportTables() {
		if err := m.copyTable(ctx, table); err != nil {
			return nil, err
		}
	}
	if err := m.noteUploads(ctx); err != nil {
		return nil, err
	}
	if err := dst.Meta.FinishImport(ctx); err != nil {
		return nil, err
	}
	if err := m.verify(ctx); err != nil {
		return nil, err
	}
	return m.rep, nil
}

type migration struct {
	src, dst Stores
	opts     Options
	rep      *Report
}

func (m *migration) logf(format string, args ...any) {
	if m.opts.Progress != nil {
		fmt.Fprintf(m.opts.Progress, "migrate: "+format+"\n", args...)
	}
}

// noteUploads reports the source's upload sessions, which are not copied:
// their bytes and blob-store state belong to the source's blob store, so
// their clients push those blobs again.
func (m *migration) noteUploads(ctx context.Context) error {
	ups, err := m.src.Meta.StaleUploads(ctx, time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	if len(ups) > 0 {
		m.logf("%d upload sessions in progress are not copied", len(ups))
	}
	return nil
}

// copyTable copies the rows of table the target lacks. A page of blob rows
// is written only after the bytes of its blobs are in the target's blob
// store, so no row ever points at bytes that are not there.
func (m *migration) copyTable(ctx context.Context, table string) error {
	total, err := m.src.Meta.ExportCount(ctx, table)
	if err != nil {
		return err
	}
	m.rep.Rows[table] = total
	var after []any
	var done, written int64
	last := time.Now()
	for {
		page, err := m.src.Meta.Export(ctx, table, after, m.opts.Batch)
		if err != nil {
			return err
		}
		if len(page.Rows) == 0 {
			break
		}
		if table == "blobs" {
			if err := m.blobBytes(ctx, page); err != nil {
				return err
			}
		}
		n, err := m.dst.Meta.Import(ctx, table, page)
		if err != nil {
			return err
		}
		done += int64(len(page.Rows))
		written += int64(n)
		after = page.Rows[len(page.Rows)-1].Key
		if time.Since(last) >= progressEvery {
			m.logf("%s: %d/%d rows, %d written", table, done, total, written)
			last = time.Now()
		}
	}
	m.rep.Written += written
	m.logf("%s: %d rows, %d written", table, done, written)
	return nil
}

// blobBytes makes sure the target's blob store holds every blob of page
// that is not kept inline, copying it when Options.Blobs says so.
func (m *migration) blobBytes(ctx context.Context, page *meta.Page) error {
	digestAt, sizeAt, contentAt := slices.Index(page.Columns, "digest"), slices.Index(page.Columns, "size"), slices.Index(page.Columns, "content")
	if digestAt < 0 || sizeAt < 0 || contentAt < 0 {
		return fmt.Errorf("blobs table lacks digest, size or content: %v", page.Columns)
	}
	for _, r := range page.Rows {
		if r.Values[contentAt] != nil {
			continue // inline: the bytes are in the row
		}
		dgst, _ := r.Values[digestAt].(string)
		size, _ := r.Values[sizeAt].(int64)
		d, err := digest.Parse(dgst)
		if err != nil {
			return fmt.Errorf("blob row %q: %w", dgst, err)
		}
		got, err := m.dst.Blobs.Stat(ctx, d)
		if err == nil && got == size {
			continue
		}
		if err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("target blob %s: %w", d, err)
		}
		if !m.opts.Blobs {
			return fmt.Errorf("blob %s is not in the target's blob store: copy the blobs with --blobs, or give the target the source's blob storage", d)
		}
		if err := copyBlob(ctx, m.src.Blobs, m.dst.Blobs, d, size); err != nil {
			return err
		}
		m.rep.BlobsCopied++
		m.rep.BytesCopied += size
	}
	return nil
}

// copyBlob streams blob d into dst through an upload, checking size and
// digest before committing it.
func copyBlob(ctx context.Context, src, dst blob.Store, d digest.Digest, size int64) error {
	rc, n, err := src.Open(ctx, d)
	if err != nil {
		return fmt.Errorf("source blob %s: %w", d, err)
	}
	defer rc.Close()
	if n != size {
		return fmt.Errorf("source blob %s: %d bytes, its row says %d", d, n, size)
	}
	id := uuid.NewString()
	v := d.Algorithm().Digester()
	written, state, err := dst.WriteUpload(ctx, id, nil, 0, io.TeeReader(rc, v.Hash()))
	if err == nil && (written != size || v.Digest() != d) {
		err = fmt.Errorf("read %d bytes with digest %s, want %d bytes with digest %s", written, v.Digest(), size, d)
	}
	if err == nil {
		err = dst.CommitUpload(ctx, id, state, size, d)
	}
	if err != nil {
		dst.CancelUpload(context.WithoutCancel(ctx), id, state)
		return fmt.Errorf("copy blob %s: %w", d, err)
	}
	return nil
}

// verify compares every table of both stores row by row and checks the
// target's blob store holds every blob not kept inline, with its size.
func (m *migration) verify(ctx context.Context) error {
	for _, table := range meta.ExportTables() {
		d, err := diffTable(ctx, m.src.Meta, m.dst.Meta, table, m.opts.Batch)
		if err != nil {
			return err
		}
		if d.onlySrc+d.onlyDst+d.differ > 0 {
			return fmt.Errorf("verify %s: %d rows missing from the target, %d extra, %d differ (first: %v)",
				table, d.onlySrc, d.onlyDst, d.differ, d.first)
		}
		m.logf("verified %s: %d rows identical", table, d.same)
	}
	n, err := m.verifyBlobBytes(ctx)
	if err != nil {
		return err
	}
	m.logf("verified blob store: %d blobs present with their sizes", n)
	return nil
}

func (m *migration) verifyBlobBytes(ctx context.Context) (int64, error) {
	var after string
	var n int64
	for {
		page, err := m.dst.Meta.BlobPage(ctx, after, m.opts.Batch)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		for _, b := range page {
			if b.Content != nil {
				continue
			}
			size, err := m.dst.Blobs.Stat(ctx, b.Digest)
			if err != nil || size != b.Size {
				return n, fmt.Errorf("verify blob store: %s: size %d, want %d (%v)", b.Digest, size, b.Size, err)
			}
			n++
		}
		after = page[len(page)-1].Digest.String()
	}
}

// tableDiff counts how two stores' rows of a table compare.
type tableDiff struct {
	same, onlySrc, onlyDst, differ int64
	first                          []any // key of the first row not the same
}

// diffTable compares table's rows in both stores, walking both in key
// order side by side.
func diffTable(ctx context.Context, src, dst *meta.SQL, table string, batch int) (tableDiff, error) {
	var d tableDiff
	a := &cursor{s: src, table: table, batch: batch}
	b := &cursor{s: dst, table: table, batch: batch}
	note := func(key []any) {
		if d.first == nil {
			d.first = key
		}
	}
	for {
		ra, err := a.peek(ctx)
		if err != nil {
			return d, err
		}
		rb, err := b.peek(ctx)
		if err != nil {
			return d, err
		}
		if ra == nil && rb == nil {
			return d, nil
		}
		if a.cols != nil && b.cols != nil && !slices.Equal(a.cols, b.cols) {
			return d, fmt.Errorf("table %s: columns differ: %v and %v (are both at the same schema version?)", table, a.cols, b.cols)
		}
		switch c := compareRows(ra, rb); {
		case c < 0:
			d.onlySrc++
			note(ra.Key)
			a.next()
		case c > 0:
			d.onlyDst++
			note(rb.Key)
			b.next()
		default:
			if reflect.DeepEqual(ra.Values, rb.Values) {
				d.same++
			} else {
				d.differ++
				note(ra.Key)
			}
			a.next()
			b.next()
		}
	}
}

// compareRows orders rows by key, a missing row (the end of a table) last.
func compareRows(a, b *meta.Row) int {
	switch {
	case b == nil:
		return -1
	case a == nil:
		return 1
	}
	return meta.CompareKeys(a.Key, b.Key)
}

// cursor walks a table in key order, a page at a time.
type cursor struct {
	s     *meta.SQL
	table string
	batch int
	cols  []string
	rows  []meta.Row
	after []any
	done  bool
}

// peek returns the current row, nil at the end.
func (c *cursor) peek(ctx context.Context) (*meta.Row, error) {
	if len(c.rows) == 0 && !c.done {
		page, err := c.s.Export(ctx, c.table, c.after, c.batch)
		if err != nil {
			return nil, err
		}
		c.cols = page.Columns
		c.rows = page.Rows
		if len(c.rows) == 0 {
			c.done = true
		} else {
			c.after = c.rows[len(c.rows)-1].Key
		}
	}
	if len(c.rows) == 0 {
		return nil, nil
	}
	return &c.rows[0], nil
}

func (c *cursor) next() { c.rows = c.rows[1:] }
