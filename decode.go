package kmsretry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
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
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
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

// scanner walks a JSON text that json.Valid accepted, so it need not check
// syntax: it only finds the few members an error body has.
type scanner struct {
	b []byte
	i int
}

// members calls f with each key of the object at s.i; f must consume the
// member's value.
func (s *scanner) members(f func(key []byte)) {
	s.i++ // {
	for {
		s.space()
		switch s.b[s.i] {
		case '}':
			s.i++
			return
		case ',':
			s.i++
			continue
		}

		key, _ := s.str()
		s.space()
		s.i++ // :
		s.space()
		f(key)
	}
}

// nested reads the inner object of a nested body into eb, or skips a value
// of any other kind.
func (s *scanner) nested(eb *ErrorBody) {
	*eb = ErrorBody{} // a repeated key: the last one wins
	if s.b[s.i] != '{' {
		s.skip()
		return
	}

	s.members(func(key []byte) {
		switch string(key) {
		case "error_code":
			s.setString(&eb.Code)
		case "error_msg":
			s.setString(&eb.Message)
		default:
			s.skip()
		}
	})
}

// setString stores the string value at s.i in dst, or skips a value of any
// other kind and clears dst. A documented code is stored as the catalogue's
// own string, so the common case allocates nothing.
func (s *scanner) setString(dst *string) {
	*dst = ""
	if s.b[s.i] != '"' {
		s.skip()
		return
	}

	start := s.i
	raw, escaped := s.str()
	switch {
	case escaped || !utf8.Valid(raw): // let encoding/json decode it as it would
		var v string
		if json.Unmarshal(s.b[start:s.i], &v) == nil {
			*dst = v
		}
	case len(raw) > 0:
		if e, ok := catalogue[string(raw)]; ok {
			*dst = e.Code
			return
		}
		*dst = string(raw)
	}
}

// str reads the string at s.i and returns its raw contents.
func (s *scanner) str() (raw []byte, escaped bool) {
	s.i++ // opening quote
	start := s.i
	for {
		switch s.b[s.i] {
		case '\\':
			escaped = true
			s.i += 2
		case '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped
		default:
			s.i++
		}
	}
}

// skip passes over the value at s.i, whatever its kind.
func (s *scanner) skip() {
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return
			}
		}
	default: // number, true, false, null: up to the next delimiter
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return
			}
			s.i++
		}
	}
}

// space passes over white space.
func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
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
		buf := bytes.NewBuffer(pb.prefix)
		n, err := buf.ReadFrom(io.LimitReader(pb.rest, maxDrain))
		pb.prefix, pb.err = buf.Bytes(), err
		pb.complete = err == nil && n < maxDrain
		if !pb.complete {
			return
		}
	}

	pb.rest.Close()
	pb.rest = http.NoBody
}
