package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// RangeOpener opens an object's bytes from off to its end.
type RangeOpener func(ctx context.Context, off int64) (io.ReadCloser, error)

// NewRangedContent returns a Content over an object of size bytes that
// object stores serve by ranged GETs: reads stream one GET from the current
// offset, and a Seek only moves the offset, so the next Read opens a new
// range. http.ServeContent's seeks to find the size cost no request.
func NewRangedContent(ctx context.Context, size int64, open RangeOpener) Content {
	return &rangedContent{ctx: ctx, size: size, open: open}
}

type rangedContent struct {
	ctx  context.Context
	size int64
	open RangeOpener
	off  int64
	body io.ReadCloser
}

func (c *rangedContent) Read(p []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	if c.body == nil {
		body, err := c.open(c.ctx, c.off)
		if err != nil {
			return 0, fmt.Errorf("read at %d: %w", c.off, err)
		}
		c.body = body
	}
	n, err := c.body.Read(p)
	c.off += int64(n)
	if errors.Is(err, io.EOF) && c.off < c.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (c *rangedContent) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = c.off + offset
	case io.SeekEnd:
		abs = c.size + offset
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek to %d: negative offset", abs)
	}
	if abs != c.off && c.body != nil {
		c.body.Close()
		c.body = nil
	}
	c.off = abs
	return abs, nil
}

func (c *rangedContent) Close() error {
	if c.body == nil {
		return nil
	}
	err := c.body.Close()
	c.body = nil
	return err
}

// Fill reads from r until buf is full or r fails; unlike io.ReadFull it
// returns r's own error (io.EOF at the end), so a reader failing with
// io.ErrUnexpectedEOF is not taken for a short, clean end.
func Fill(r io.Reader, buf []byte) (int, error) { return fill(r, buf) }
