package kmsretry

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// maxDepth bounds the nesting of objects and arrays, as encoding/json does.
const maxDepth = 10000

// scanner reads a JSON text in one pass, checking its syntax as strictly as
// json.Valid does, and finds the few members an error body has. A syntax
// error sets bad and moves to the end, so that every later call does
// nothing; the caller then discards what was found.
type scanner struct {
	b     []byte
	i     int
	depth int
	bad   bool
}

// fail marks the text invalid.
func (s *scanner) fail() {
	s.bad = true
	s.i = len(s.b)
}

// peek returns the byte at s.i, or 0 at the end (never valid where a byte
// is needed).
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
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

// enter opens an object or array at s.i, within the depth limit.
func (s *scanner) enter() bool {
	s.depth++
	if s.depth > maxDepth {
		s.fail()
		return false
	}
	s.i++
	s.space()
	return true
}

// members calls f with each key of the object at s.i, positioned at the
// member's value, which f must consume.
func (s *scanner) members(f func(key []byte)) {
	s.container('}', func() {
		if s.peek() != '"' {
			s.fail()
			return
		}
		key, _ := s.str()
		s.space()
		if s.peek() != ':' {
			s.fail()
			return
		}
		s.i++
		s.space()
		f(key)
	})
}

// elements passes over the array at s.i.
func (s *scanner) elements() {
	s.container(']', s.skip)
}

// container passes over the object or array at s.i, whose closing byte is
// end, calling item for each of its comma-separated items.
func (s *scanner) container(end byte, item func()) {
	if !s.enter() {
		return
	}
	if s.peek() == end {
		s.i++
		s.depth--
		return
	}

	for !s.bad {
		item()
		s.space()

		switch s.peek() {
		case ',':
			s.i++
			s.space()
		case end:
			s.i++
			s.depth--
			return
		default:
			s.fail()
		}
	}
}

// nested reads the inner object of a nested body into eb, or passes over a
// value of any other kind. A repeated key replaces what came before.
func (s *scanner) nested(eb *ErrorBody) {
	*eb = ErrorBody{}
	if s.peek() != '{' {
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

// setString stores the string value at s.i in dst, or passes over a value of
// any other kind and clears dst. A documented code is stored as the
// catalogue's own string, so the common case allocates nothing.
func (s *scanner) setString(dst *string) {
	*dst = ""
	if s.peek() != '"' {
		s.skip()
		return
	}

	start := s.i
	raw, escaped := s.str()
	switch {
	case s.bad:
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

// str reads the string at s.i, checking its escapes, and returns its raw
// contents.
func (s *scanner) str() (raw []byte, escaped bool) {
	s.i++ // the opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped
		case c == '\\':
			escaped = true
			if !s.escape() {
				return nil, false
			}
		case c < 0x20:
			s.fail()
			return nil, false
		default:
			s.i++
		}
	}
	s.fail()
	return nil, false
}

// escape passes over the escape sequence at s.i.
func (s *scanner) escape() bool {
	switch next := s.byteAt(s.i + 1); next {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		for k := s.i + 2; k < s.i+6; k++ {
			if !isHex(s.byteAt(k)) {
				s.fail()
				return false
			}
		}
		s.i += 6
		return true
	}
	s.fail()
	return false
}

// skip passes over the value at s.i, whatever its kind.
func (s *scanner) skip() {
	switch c := s.peek(); {
	case c == '"':
		s.str()
	case c == '{':
		s.members(func([]byte) { s.skip() })
	case c == '[':
		s.elements()
	case c == 't':
		s.word("true")
	case c == 'f':
		s.word("false")
	case c == 'n':
		s.word("null")
	case c == '-' || isDigit(c):
		s.number()
	default:
		s.fail()
	}
}

// word passes over the literal w.
func (s *scanner) word(w string) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		s.fail()
		return
	}
	s.i += len(w)
}

// number passes over a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() {
	if s.peek() == '-' {
		s.i++
	}

	switch c := s.peek(); {
	case c == '0':
		s.i++
	case isDigit(c):
		s.digits()
	default:
		s.fail()
		return
	}

	if s.peek() == '.' {
		s.i++
		s.needDigits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		s.needDigits()
	}
}

// needDigits passes over one or more digits, or fails.
func (s *scanner) needDigits() {
	if !isDigit(s.peek()) {
		s.fail()
		return
	}
	s.digits()
}

// digits passes over digits.
func (s *scanner) digits() {
	for isDigit(s.peek()) {
		s.i++
	}
}

// byteAt returns b[k], or 0 past the end.
func (s *scanner) byteAt(k int) byte {
	if k < len(s.b) {
		return s.b[k]
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
