package kmsretry

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// fuzzBodies seed the body fuzz targets with what the wire really carries.
var fuzzBodies = []string{
	sampleNested,
	sampleFlat,
	sampleFlatOld,
	sampleHTML,
	"",
	" \r\n",
	"null",
	"[]",
	`{"error":"x"}`,
	`{"error":{"error_code":"KMS.0205","error_msg":"密钥key_id非法。"}}`,
	`{"error":{"error_code":"KMS.\u0030101","error_msg":"\ud83d"}}`,
	`{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information",` +
		`"request_id":"c1f2"}`,
	`{"error":{"error_code":"KMS.0101"`,
	"upstream request timeout",
}

// tail follows MaxErrorBody bytes in FuzzParseErrorBody: it would change
// the result if ParseErrorBody looked at it.
const tail = `"},"error_code":"KMS.0101","error_msg":"tail"}`

func FuzzParseErrorBody(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add([]byte(b))
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		eb := ParseErrorBody(b)

		// The code is taken from the input as it stands, unless a JSON
		// escape or invalid UTF-8 (read as U+FFFD) changed its bytes.
		plain := utf8.Valid(b) && !bytes.Contains(b, []byte(`\`))
		if plain && !bytes.Contains(b, []byte(eb.Code)) {
			t.Errorf("code %q is not in the input", eb.Code)
		}
		if eb.Code == "" && eb.Message != "" {
			t.Errorf("message %q without a code", eb.Message)
		}

		// Nothing past MaxErrorBody counts: a long input is cut there, and
		// a short one padded to the limit with blanks, then given a tail,
		// reads as before.
		if len(b) > MaxErrorBody {
			if cut := ParseErrorBody(b[:MaxErrorBody]); cut != eb {
				t.Fatalf("ParseErrorBody = %+v, but %+v on the first MaxErrorBody bytes",
					eb, cut)
			}
			return
		}
		long := make([]byte, 0, MaxErrorBody+len(tail))
		long = append(long, b...)
		long = append(long, bytes.Repeat([]byte{' '}, MaxErrorBody-len(b))...)
		long = append(long, tail...)
		if got := ParseErrorBody(long); got != eb {
			t.Fatalf("ParseErrorBody = %+v, but %+v once padded to the limit and extended",
				eb, got)
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	for i, b := range fuzzBodies {
		f.Add([]byte(b), uint16(400+i), uint32(0), uint8(i))
	}
	f.Add([]byte(sampleNested), uint16(404), uint32(MaxErrorBody-10), uint8(3))
	f.Add([]byte(sampleFlat), uint16(429), uint32(MaxErrorBody), uint8(0))
	f.Add([]byte("x"), uint16(502), uint32(MaxErrorBody-1), uint8(1))

	f.Fuzz(func(t *testing.T, b []byte, status uint16, pad uint32, mode uint8) {
		// pad puts blanks before the input, so that it straddles the limit.
		body := append(bytes.Repeat([]byte{' '}, int(pad%(MaxErrorBody+2))), b...)

		var r io.Reader = bytes.NewReader(body)
		if mode&1 != 0 {
			r = iotest.OneByteReader(r)
		}
		if mode&2 != 0 {
			r = iotest.DataErrReader(r)
		}
		tb := &trackedBody{Reader: r}
		resp := &http.Response{StatusCode: int(status), Header: http.Header{},
			Body: tb, ContentLength: -1}
		if mode&4 != 0 {
			resp.ContentLength = int64(len(body))
		}

		eb := DecodeError(resp)
		if status < 400 {
			if eb != (ErrorBody{}) || resp.Body != tb {
				t.Fatalf("status %d: DecodeError = %+v, body replaced: %v",
					status, eb, resp.Body != tb)
			}
			return
		}
		if want := ParseErrorBody(body); eb != want {
			t.Fatalf("DecodeError = %+v, ParseErrorBody = %+v", eb, want)
		}
		if mode&8 != 0 {
			release(resp)
		}

		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read back %d bytes (%v), want the %d given", len(got), err, len(body))
		}
		resp.Body.Close()
		if tb.closes != 1 {
			t.Fatalf("underlying body closed %d times, want 1", tb.closes)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2025, time.March, 14, 9, 26, 53, 0, time.UTC)
	for _, v := range []string{
		"0", "1", "120", "-1", "86401", "9223372036854775807", "99999999999999999999",
		"-99999999999999999999", "+3", "1.5", "soon", "",
		now.Add(time.Minute).Format(http.TimeFormat),
		now.Add(-time.Minute).Format(http.TimeFormat),
		now.Add(time.Hour).Format(time.ANSIC),
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT",
	} {
		f.Add(v)
	}

	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, negative", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v with ok=false", v, d)
		}

		// Delta-seconds are digits alone (RFC 9110): a sign makes the value
		// unreadable, so it counts as absent.
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && isDigits(v) {
			want := time.Duration(min(n, 86400)) * time.Second
			if d != want || !ok {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, true", v, d, ok, want)
			}
		}
		if (strings.HasPrefix(v, "-") || strings.HasPrefix(v, "+")) && ok {
			t.Fatalf("parseRetryAfter(%q) = %v, ok for a signed number", v, d)
		}
		if isDigits(v) && d > 24*time.Hour {
			t.Fatalf("parseRetryAfter(%q) = %v, past the one-day clamp", v, d)
		}

		h := http.Header{}
		h.Set("Retry-After", v)
		if hd, hok := retryAfter(h, now); hd != d || hok != ok {
			t.Fatalf("retryAfter(header %q) = %v, %v; parseRetryAfter = %v, %v",
				v, hd, hok, d, ok)
		}
	})
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
