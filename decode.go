package kmsretry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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

// wireError matches both body shapes the service sends: nested
// {"error":{"error_code":...}} from KMS, flat {"error_code":...} from the
// API gateway.
type wireError struct {
	Nested *struct {
		Code    string `json:"error_code"`
		Message string `json:"error_msg"`
	} `json:"error"`
	Code      string `json:"error_code"`
	Message   string `json:"error_msg"`
	RequestID string `json:"request_id"`
}

// ParseErrorBody reads the code, message and request id from the bytes of an
// error body, nested or flat. Anything that is not a JSON object holding a
// code yields a zero ErrorBody; it never panics. Only the first
// [MaxErrorBody] bytes are looked at.
func ParseErrorBody(b []byte) ErrorBody {
	if len(b) > MaxErrorBody {
		b = b[:MaxErrorBody]
	}

	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return ErrorBody{}
	}

	var w wireError
	if json.Unmarshal(b, &w) != nil {
		return ErrorBody{}
	}

	if w.Nested != nil && w.Nested.Code != "" {
		return ErrorBody{Code: w.Nested.Code, Message: w.Nested.Message, RequestID: w.RequestID}
	}
	if w.Code == "" {
		return ErrorBody{RequestID: w.RequestID}
	}
	return ErrorBody{Code: w.Code, Message: w.Message, RequestID: w.RequestID}
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

	// info is what the transport learned of the answer; nil until set.
	info *Error
}

// peek reads up to MaxErrorBody bytes of resp.Body and puts a peekedBody in
// its place. A body already peeked is returned as it is.
func peek(resp *http.Response) *peekedBody {
	if pb, ok := resp.Body.(*peekedBody); ok {
		return pb
	}

	size := 512
	if n := resp.ContentLength; n >= 0 && n < MaxErrorBody {
		size = int(n) + 1 // one more byte so that ReadFrom sees EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, MaxErrorBody))

	pb := &peekedBody{prefix: buf.Bytes(), err: err, rest: resp.Body}
	pb.complete = err == nil && n < MaxErrorBody
	resp.Body = pb
	return pb
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

// release closes the connection side of an answer whose body was read whole
// while peeking; the caller still reads the body from memory.
func release(resp *http.Response) {
	pb, ok := resp.Body.(*peekedBody)
	if !ok || !pb.complete || pb.rest == http.NoBody {
		return
	}

	pb.rest.Close()
	pb.rest = http.NoBody
}
