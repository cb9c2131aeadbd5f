package api

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// drainLimits bound the drain that follows an early error. A proxy stops
// sending as soon as it has read the response, so a drain normally ends
// within milliseconds; the bounds only matter for a client that keeps
// sending regardless, and cap what it can cost: maxBytes read, maxTime in
// all, and no read waiting longer than idle.
type drainLimits struct {
	maxBytes int64
	maxTime  time.Duration
	idle     time.Duration
}

// defaultDrainLimits are the bounds of the error path.
func defaultDrainLimits() drainLimits {
	return drainLimits{maxBytes: 64 << 20, maxTime: 15 * time.Second, idle: 5 * time.Second}
}

// drainOnError prepares an error answer to a request whose body may still
// be on its way (a PATCH refused before it was read: unknown upload, wrong
// offset, missing credentials) and returns what to run once the answer is
// written. Go's server, left alone, discards at most 256 KiB of an unread
// body and then closes the connection while the peer is still sending; the
// peer's next write meets a reset, and a proxy such as nginx then reports
// 502 and takes the node out of rotation instead of passing the answer on.
// So the answer is flushed first and the body read and thrown away
// afterwards, within bounds, and a body that may outgrow them is answered
// with Connection: close.
//
// Use it as `defer drainOnError(w, r)()` before writing the error.
func drainOnError(w http.ResponseWriter, r *http.Request) func() {
	return defaultDrainLimits().start(w, r)
}

// start is drainOnError with these limits.
func (l drainLimits) start(w http.ResponseWriter, r *http.Request) func() {
	if !mayHaveUnreadBody(r) {
		return func() {}
	}
	rc := http.NewResponseController(w)
	// Without full duplex, writing the answer ends the body for HTTP/1.
	if err := rc.EnableFullDuplex(); err != nil {
		return func() {}
	}
	if r.ContentLength < 0 || r.ContentLength > l.maxBytes {
		w.Header().Set("Connection", "close")
	}
	return func() {
		if err := rc.Flush(); err != nil {
			return
		}
		l.discard(r.Body, rc)
	}
}

// mayHaveUnreadBody reports whether r is an HTTP/1 request whose body
// could still be arriving. HTTP/2 ends a stream's body on its own without
// touching the connection. A client that sent Expect: 100-continue and got
// no 100 waits for the answer instead of sending; reading would make Go
// ask for the whole body.
func mayHaveUnreadBody(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return false
	}
	// A failed read (the client left or stalled) cancels the context:
	// nothing more will come worth waiting for.
	return r.Context().Err() == nil
}

// discard reads body to its end, within l, cutting off each read after
// l.idle of silence. It reports whether the body ended.
func (l drainLimits) discard(body io.Reader, rc *http.ResponseController) bool {
	// Leave no deadline behind for the next request on the connection.
	defer rc.SetReadDeadline(time.Time{})
	deadline := time.Now().Add(l.maxTime)
	buf := make([]byte, 32<<10)
	for n := int64(0); n < l.maxBytes; {
		now := time.Now()
		d := now.Add(l.idle)
		if d.After(deadline) {
			d = deadline
		}
		if !now.Before(d) {
			return false
		}
		if err := rc.SetReadDeadline(d); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		m, err := body.Read(buf[:min(int64(len(buf)), l.maxBytes-n)])
		n += int64(m)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
