package api

import (
	"math"
	"net/http"
	"strconv"
	"strings"
)

// maxRanges bounds the ranges one blob GET may ask for: each costs a
// multipart part, for a few bytes of request header.
const maxRanges = 100

// byteRange is a satisfiable range of a blob: first to last, inclusive.
type byteRange struct{ first, last int64 }

// normalizeRange rewrites the Range header of a GET for a blob of size
// bytes into a form http.ServeContent answers as RFC 9110 §14 asks (found
// by FuzzBlobRange): a unit other than bytes is ignored (200, the whole
// blob); range units are case-insensitive; a suffix range longer than the
// blob, or with a length too large for int64, means the whole blob; a set
// with no satisfiable range, or an invalid one (which RFC 9110 lets a
// server ignore or reject; the OCI conformance suite wants 416 for
// "bytes=500-0"), gets 416 with Content-Range "bytes */size", where
// ServeContent would answer `bytes=-0` with a 206 whose Content-Range ends
// before it starts, and a malformed set with a 416 without Content-Range.
// ServeContent still applies If-Range and the rest.
func normalizeRange(h http.Header, size int64) {
	v := h.Get("Range")
	if v == "" {
		return
	}
	ranges, ok := parseByteRanges(v, size)
	switch {
	case !ok || size == 0:
		// An empty blob has no byte to range over: RFC 9110 lets the
		// server ignore the header.
		h.Del("Range")
	case len(ranges) == 0:
		h.Set("Range", "bytes="+strconv.FormatInt(size, 10)+"-")
	default:
		parts := make([]string, len(ranges))
		for i, r := range ranges {
			parts[i] = strconv.FormatInt(r.first, 10) + "-" + strconv.FormatInt(r.last, 10)
		}
		h.Set("Range", "bytes="+strings.Join(parts, ","))
	}
}

// parseByteRanges parses a Range header value against a representation of
// size bytes. ok is false when the header is to be ignored (another unit);
// the ranges are the satisfiable ones, none when no range is, when the set
// is invalid or when there are more than maxRanges.
func parseByteRanges(v string, size int64) (ranges []byteRange, ok bool) {
	unit, set, found := strings.Cut(v, "=")
	if !found || !strings.EqualFold(unit, "bytes") {
		return nil, false
	}
	n := 0
	for _, spec := range strings.Split(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed (RFC 9110 §5.6.1)
		}
		n++
		r, satisfiable, valid := parseRangeSpec(spec, size)
		if !valid {
			return nil, true
		}
		if satisfiable {
			ranges = append(ranges, r)
		}
	}
	if n == 0 {
		return nil, true
	}
	if n > maxRanges {
		return nil, true
	}
	return ranges, true
}

// parseRangeSpec parses one int-range ("first-", "first-last") or
// suffix-range ("-length").
func parseRangeSpec(spec string, size int64) (r byteRange, satisfiable, valid bool) {
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return r, false, false
	}
	if a == "" {
		length, ok := parseDigits(b)
		if !ok {
			return r, false, false
		}
		if length == 0 || size == 0 {
			return r, false, true
		}
		return byteRange{first: max(size-length, 0), last: size - 1}, true, true
	}
	first, ok := parseDigits(a)
	if !ok {
		return r, false, false
	}
	last := int64(math.MaxInt64)
	if b != "" {
		if last, ok = parseDigits(b); !ok || last < first {
			return r, false, false
		}
	}
	if first >= size {
		return r, false, true
	}
	return byteRange{first: first, last: min(last, size-1)}, true, true
}

// parseDigits parses 1*DIGIT; a value past int64 saturates, since it is
// past any blob's end either way.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true // all digits: only too large
	}
	return n, true
}
