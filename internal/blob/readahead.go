package blob

import (
	"io"
	"net/http"
	"os"
)

// Read-ahead sizes for files sent with sendfile. A cold file sent by
// sendfile goes out in whatever pieces the kernel's small read-ahead has
// ready (often a few KiB), so the client takes many small reads and,
// measured here, a single puller of a just-pushed 256 MiB layer ran at a
// third of the speed of servers that copy through a buffer. Asking for
// the next megabytes before each step keeps sendfile on pages already read.
const (
	readAheadStep   = 8 << 20  // bytes sent per sendfile call
	readAheadWindow = 32 << 20 // bytes asked for ahead of the send position
)

// WithReadAhead wraps w so that a file body copied into it (as
// http.ServeContent does for an *os.File) is sent in steps, each preceded
// by a read-ahead hint for the window after it. Other bodies pass through.
func WithReadAhead(w http.ResponseWriter) http.ResponseWriter {
	rf, ok := w.(io.ReaderFrom)
	if !ok || !readAheadSupported {
		return w
	}
	return &readAheadWriter{ResponseWriter: w, rf: rf}
}

type readAheadWriter struct {
	http.ResponseWriter
	rf io.ReaderFrom
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *readAheadWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom sends src; a limited *os.File (ServeContent's body) goes out
// in read-ahead steps, each still by sendfile.
func (w *readAheadWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		return w.rf.ReadFrom(src)
	}
	f, ok := lr.R.(*os.File)
	if !ok {
		return w.rf.ReadFrom(src)
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return w.rf.ReadFrom(src)
	}
	end := pos + lr.N
	advised := pos
	var sent int64
	for lr.N > 0 {
		if ahead := min(pos+readAheadWindow, end); ahead > advised {
			readAhead(f, advised, ahead-advised)
			advised = ahead
		}
		step := min(lr.N, readAheadStep)
		n, err := w.rf.ReadFrom(&io.LimitedReader{R: f, N: step})
		sent += n
		pos += n
		lr.N -= n
		if err != nil {
			return sent, err
		}
		if n < step {
			break // the file ended early; the caller sees the short count
		}
	}
	return sent, nil
}
