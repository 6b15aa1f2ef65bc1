package kmsretry

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
)

// MaxErrorBody is how much of an error answer's body the transport reads to
// find its code. KMS error bodies are a few hundred bytes; a longer body is
// not read further and yields no code, but the caller still reads all of it.
const MaxErrorBody = 64 << 10

// ErrorBody is what a KMS error answer says about itself.
type ErrorBody struct {
	// Code is the error code, such as "KMS.0207", or "" when the body held
	// none: HTML from a proxy, plain text, an empty or malformed body.
	Code string

	// Message is the server's own error message, which may be Chinese.
	Message string

	// RequestID identifies the request to the vendor's support.
	RequestID string
}

// ParseErrorBody reads the code, message and request id from the bytes of an
// error body, nested ({"error":{"error_code":...,"error_msg":...}}, from KMS)
// or flat ({"error_code":...,"error_msg":...,"request_id":...}, from the API
// gateway). Anything that is not a valid JSON object holding a code yields a
// zero ErrorBody; it never panics. Fields holding something other than a
// string are passed over, so one odd field does not hide the code beside
// it. Keys match exactly, as the service sends them. Only the first
// [MaxErrorBody] bytes are looked at.
func ParseErrorBody(b []byte) ErrorBody {
	if len(b) > MaxErrorBody {
		b = b[:MaxErrorBody]
	}

	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return ErrorBody{}
	}

	var flat, nested ErrorBody
	sc := scanner{b: b}
	sc.members(func(key []byte) {
		switch string(key) {
		case "error":
			sc.nested(&nested)
		case "error_code":
			sc.setString(&flat.Code)
		case "error_msg":
			sc.setString(&flat.Message)
		case "request_id":
			sc.setString(&flat.RequestID)
		default:
			sc.skip()
		}
	})
	sc.space()
	if sc.bad || sc.i != len(b) {
		return ErrorBody{} // not valid JSON, or something after the object
	}

	// KMS's nested code wins over a flat one; the gateway sends only flat.
	eb := flat
	nested.Code, eb.Code = strings.TrimSpace(nested.Code), strings.TrimSpace(eb.Code)
	if nested.Code != "" {
		eb.Code, eb.Message = nested.Code, nested.Message
	}
	if eb.Code == "" {
		return ErrorBody{RequestID: eb.RequestID}
	}
	return eb
}

// DecodeError reads the KMS error of resp: the code and message from the
// first [MaxErrorBody] bytes of its body, the request id from the
// X-Request-Id header or else from the body. resp.Body is replaced by one
// that gives the caller the whole original body, byte for byte, including
// any read error met while peeking. A response below 400 yields a zero
// ErrorBody and is left untouched.
func DecodeError(resp *http.Response) ErrorBody {
	if resp == nil || resp.StatusCode < 400 || resp.Body == nil {
		return ErrorBody{}
	}

	pb := peek(resp)
	eb := ParseErrorBody(pb.prefix)
	if id := resp.Header.Get("X-Request-Id"); id != "" {
		eb.RequestID = id
	}
	return eb
}

// peekedBody serves a prefix read ahead from a body, then the error met while
// reading it, if any, then the rest of the body.
type peekedBody struct {
	prefix []byte
	off    int
	err    error
	rest   io.ReadCloser

	// complete says the prefix is the whole body; rest is then at EOF and
	// may be closed early, so its connection goes back to the pool.
	complete bool
}

// peek reads up to MaxErrorBody bytes of resp.Body and puts a peekedBody in
// its place. A body already peeked is returned as it is.
func peek(resp *http.Response) *peekedBody {
	if pb, ok := resp.Body.(*peekedBody); ok {
		return pb
	}

	size := 512
	if n := resp.ContentLength; n >= 0 && n < MaxErrorBody {
		size = int(n) + 1 // one more byte, so that EOF comes without growing
	}
	buf, eof, err := readUpTo(resp.Body, make([]byte, 0, size), MaxErrorBody)

	pb := &peekedBody{prefix: buf, err: err, rest: resp.Body, complete: eof}
	resp.Body = pb
	return pb
}

// readUpTo appends what r yields to buf until EOF or until buf holds limit
// bytes, and reports whether EOF came. It grows buf only when it is full.
func readUpTo(r io.Reader, buf []byte, limit int) ([]byte, bool, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 512), limit-len(buf)))
		}

		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// Read implements io.Reader.
func (b *peekedBody) Read(p []byte) (int, error) {
	if b.off < len(b.prefix) {
		n := copy(p, b.prefix[b.off:])
		b.off += n
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rest.Read(p)
}

// Close implements io.Closer by closing the original body.
func (b *peekedBody) Close() error {
	return b.rest.Close()
}

// release frees the connection of an error answer while keeping its body
// readable: a body read whole while peeking, or whole within maxDrain bytes
// more, is kept in memory and the connection closed, so that it can serve
// the retry. A longer body keeps its connection until it is closed.
func release(resp *http.Response) {
	pb, ok := resp.Body.(*peekedBody)
	if !ok || pb.rest == http.NoBody || pb.err != nil {
		return
	}

	if !pb.complete {
		pb.prefix, pb.complete, pb.err = readUpTo(pb.rest, pb.prefix, len(pb.prefix)+maxDrain)
		if !pb.complete {
			return
		}
	}

	pb.rest.Close()
	pb.rest = http.NoBody
}
