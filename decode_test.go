package kmsretry

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// Bodies as the service and the things in front of it send them.
const (
	sampleNested = `{"error":{"error_code":"KMS.0207","error_msg":"Key not found."}}`
	sampleFlat   = `{"error_code":"APIGW.0308","error_msg":"The throttling threshold ` +
		`has been reached: policy user over ratelimit,limit:200,time:1 second",` +
		`"request_id":"7a6f3c1e5b2d4e8f9a0b1c2d3e4f5a6b"}`
	sampleFlatOld = `{"error_code":"APIG.0201","error_msg":"Backend timeout.",` +
		`"request_id":"0b1c2d3e"}`
	sampleHTML = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n" +
		"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)

func TestParseErrorBody(t *testing.T) {
	// A body whose only code sits past MaxErrorBody: the prefix is cut JSON.
	padded := `{"error_msg":"` + strings.Repeat("x", MaxErrorBody) +
		`","error_code":"KMS.0101"}`
	// A body that ends exactly at MaxErrorBody is still read whole.
	exactHead := `{"error_code":"KMS.0101","error_msg":"`
	exactMsg := strings.Repeat("y", MaxErrorBody-len(exactHead)-2)
	exact := exactHead + exactMsg + `"}`
	// Trailing blanks past the limit do not hide a complete object.
	blanks := `{"error_code":"KMS.0102"}` + strings.Repeat(" ", MaxErrorBody)

	tests := []struct {
		name string
		body string
		want ErrorBody
	}{
		{"nested", sampleNested, ErrorBody{Code: "KMS.0207", Message: "Key not found."}},
		{"nested with request id beside", `{"error":{"error_code":"KMS.0101",` +
			`"error_msg":"busy"},"request_id":"r-1"}`,
			ErrorBody{Code: "KMS.0101", Message: "busy", RequestID: "r-1"}},
		{"flat gateway", sampleFlat, ErrorBody{
			Code: "APIGW.0308",
			Message: "The throttling threshold has been reached: policy user over " +
				"ratelimit,limit:200,time:1 second",
			RequestID: "7a6f3c1e5b2d4e8f9a0b1c2d3e4f5a6b",
		}},
		{"flat old prefix", sampleFlatOld, ErrorBody{
			Code: "APIG.0201", Message: "Backend timeout.", RequestID: "0b1c2d3e",
		}},
		{"nested wins over flat", `{"error":{"error_code":"KMS.0207","error_msg":"a"},` +
			`"error_code":"APIGW.0101","error_msg":"b"}`,
			ErrorBody{Code: "KMS.0207", Message: "a"}},
		{"empty nested falls back on flat", `{"error":{},"error_code":"APIGW.0101"}`,
			ErrorBody{Code: "APIGW.0101"}},
		{"nested null", `{"error":null,"error_code":"APIGW.0301"}`,
			ErrorBody{Code: "APIGW.0301"}},
		{"request id without code", `{"request_id":"r-2"}`, ErrorBody{RequestID: "r-2"}},
		{"leading whitespace", " \t\r\n" + sampleNested,
			ErrorBody{Code: "KMS.0207", Message: "Key not found."}},
		{"unicode message", `{"error":{"error_code":"KMS.0205",` +
			`"error_msg":"密钥key_id非法。"}}`,
			ErrorBody{Code: "KMS.0205", Message: "密钥key_id非法。"}},
		{"escaped unicode message", `{"error":{"error_code":"KMS.0205",` +
			`"error_msg":"\u5bc6\u94a5 \ud83d\udd11"}}`,
			ErrorBody{Code: "KMS.0205", Message: "密钥 🔑"}},
		{"unknown code kept", `{"error":{"error_code":"KMS.0104","error_msg":"x"}}`,
			ErrorBody{Code: "KMS.0104", Message: "x"}},
		{"exactly MaxErrorBody", exact,
			ErrorBody{Code: "KMS.0101", Message: exactMsg}},
		{"blanks past the limit", blanks, ErrorBody{Code: "KMS.0102"}},

		{"empty", "", ErrorBody{}},
		{"whitespace", " \n\t\r ", ErrorBody{}},
		{"html", sampleHTML, ErrorBody{}},
		{"plain text", "upstream connect error or disconnect/reset before headers",
			ErrorBody{}},
		{"truncated json", `{"error":{"error_code":"KMS.0207","error_m`, ErrorBody{}},
		{"json array", `[{"error_code":"KMS.0207"}]`, ErrorBody{}},
		{"json null", `null`, ErrorBody{}},
		{"json string", `"KMS.0207"`, ErrorBody{}},
		{"error is a string", `{"error":"x"}`, ErrorBody{}},
		{"code is a number", `{"error_code":207}`, ErrorBody{}},
		{"trailing garbage", sampleNested + `}`, ErrorBody{}},
		{"code only beyond the limit", padded, ErrorBody{}},

		// A JSON object that holds a code yields it, even when a field the
		// package does not need has an unexpected type.
		{"code beside a string error field", `{"error":"Bad Gateway",` +
			`"error_code":"APIGW.0201","error_msg":"Backend unavailable"}`,
			ErrorBody{Code: "APIGW.0201", Message: "Backend unavailable"}},
		{"code beside a numeric request id", `{"error_code":"APIGW.0308",` +
			`"error_msg":"throttled","request_id":12345}`,
			ErrorBody{Code: "APIGW.0308", Message: "throttled"}},
		{"nested code beside a numeric message", `{"error":{"error_code":"KMS.0101",` +
			`"error_msg":5}}`, ErrorBody{Code: "KMS.0101"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseErrorBody([]byte(tt.body)); got != tt.want {
				t.Errorf("ParseErrorBody = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestParseErrorBodyIgnoresTail checks that nothing past MaxErrorBody is
// looked at, however the tail reads.
func TestParseErrorBodyIgnoresTail(t *testing.T) {
	head := `{"error":{"error_code":"KMS.0207","error_msg":"` +
		strings.Repeat("z", MaxErrorBody)
	for _, tail := range []string{"", `"}}`, `"},"error_code":"KMS.0101"}`, "\x00\xff"} {
		t.Run(strconv.Quote(tail), func(t *testing.T) {
			if got := ParseErrorBody([]byte(head + tail)); got != (ErrorBody{}) {
				t.Errorf("ParseErrorBody = %+v, want zero", got)
			}
		})
	}
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// serveError answers every request with status, body and, when id is not
// empty, an X-Request-Id header. chunked makes it stream the body without a
// Content-Length.
func serveError(t *testing.T, status int, body []byte, id string, chunked bool) string {
	t.Helper()

	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if id != "" {
			w.Header().Set("X-Request-Id", id)
		}
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(status)

		half := len(body) / 2
		w.Write(body[:half])
		if chunked {
			w.(http.Flusher).Flush()
		}
		w.Write(body[half:])
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// fetch sends a GET to url with a transport of its own.
func fetch(t *testing.T, url string) *http.Response {
	t.Helper()

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestDecodeErrorLoopback(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		header string
		want   ErrorBody
	}{
		{"nested with header id", 404, sampleNested, "hdr-1",
			ErrorBody{Code: "KMS.0207", Message: "Key not found.", RequestID: "hdr-1"}},
		{"nested without id", 404, sampleNested, "",
			ErrorBody{Code: "KMS.0207", Message: "Key not found."}},
		{"header id wins over body id", 429, sampleFlat, "hdr-2", ErrorBody{
			Code: "APIGW.0308", RequestID: "hdr-2",
			Message: ParseErrorBody([]byte(sampleFlat)).Message,
		}},
		{"body id when no header", 502, sampleFlatOld, "", ErrorBody{
			Code: "APIG.0201", Message: "Backend timeout.", RequestID: "0b1c2d3e",
		}},
		{"html with header id", 502, sampleHTML, "hdr-3", ErrorBody{RequestID: "hdr-3"}},
		{"empty body", 503, "", "", ErrorBody{}},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			name := tt.name + "/length"
			if chunked {
				name = tt.name + "/chunked"
			}
			t.Run(name, func(t *testing.T) {
				url := serveError(t, tt.status, []byte(tt.body), tt.header, chunked)
				resp := fetch(t, url)
				defer resp.Body.Close()

				if got := DecodeError(resp); got != tt.want {
					t.Errorf("DecodeError = %+v, want %+v", got, tt.want)
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil || string(got) != tt.body {
					t.Errorf("body after DecodeError = %q, %v; want %q", got, err, tt.body)
				}
			})
		}
	}
}

// TestDecodeErrorKeepsBody reads back bodies below, at and above
// MaxErrorBody after DecodeError, and checks Close reaches the connection.
func TestDecodeErrorKeepsBody(t *testing.T) {
	sizes := []int{0, 1, 300, MaxErrorBody - 1, MaxErrorBody, MaxErrorBody + 1, 1 << 20}
	for _, n := range sizes {
		for _, chunked := range []bool{false, true} {
			name := strconv.Itoa(n)
			if chunked {
				name += "/chunked"
			}
			t.Run(name, func(t *testing.T) {
				want := randomBytes(n)
				resp := fetch(t, serveError(t, 500, want, "", chunked))
				orig := resp.Body

				if eb := DecodeError(resp); eb.Code != "" {
					t.Errorf("code %q from random bytes", eb.Code)
				}
				if resp.Body == orig {
					t.Fatal("DecodeError did not replace the body")
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("ReadAll: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("read %d bytes, want %d identical ones", len(got), len(want))
				}

				if err := resp.Body.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if orig == http.NoBody {
					return // nothing to close: net/http sent no body at all
				}
				if _, err := orig.Read(make([]byte, 1)); err == nil || err == io.EOF {
					t.Errorf("original body still readable after Close: %v", err)
				}
			})
		}
	}
}

// TestDecodeErrorBrokenConnection cuts a body short on the wire: the caller
// gets every byte that came, then the read error.
func TestDecodeErrorBrokenConnection(t *testing.T) {
	for _, sent := range []int{100, MaxErrorBody + 100} {
		t.Run(strconv.Itoa(sent), func(t *testing.T) {
			want := randomBytes(sent)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(2*sent))
				w.WriteHeader(http.StatusBadGateway)
				w.Write(want)
				w.(http.Flusher).Flush()
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				conn.Close()
			}))
			defer ts.Close()

			resp := fetch(t, ts.URL)
			defer resp.Body.Close()
			DecodeError(resp)

			got, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("ReadAll error = %v, want io.ErrUnexpectedEOF", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %d bytes before the error, want the %d sent", len(got), sent)
			}
		})
	}
}

// trackedBody is a response body that counts its Close calls.
type trackedBody struct {
	io.Reader
	closes int
}

func (b *trackedBody) Close() error {
	b.closes++
	return nil
}

func errResponse(status int, r io.Reader) (*http.Response, *trackedBody) {
	tb := &trackedBody{Reader: r}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: tb,
		ContentLength: -1}, tb
}

func TestDecodeErrorReadError(t *testing.T) {
	boom := errors.New("connection lost mid-body")
	tests := []struct {
		name   string
		prefix int
	}{
		{"inside the peek", 10},
		{"at the limit", MaxErrorBody},
		{"past the limit", MaxErrorBody + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := randomBytes(tt.prefix)
			r := io.MultiReader(bytes.NewReader(want), iotest.ErrReader(boom))
			resp, tb := errResponse(500, r)

			DecodeError(resp)
			got, err := io.ReadAll(resp.Body)
			if !errors.Is(err, boom) {
				t.Errorf("ReadAll error = %v, want %v", err, boom)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %d bytes before the error, want %d", len(got), len(want))
			}
			if _, err := resp.Body.Read(make([]byte, 8)); !errors.Is(err, boom) {
				t.Errorf("second read error = %v, want %v again", err, boom)
			}

			resp.Body.Close()
			if tb.closes != 1 {
				t.Errorf("underlying body closed %d times, want 1", tb.closes)
			}
		})
	}
}

func TestDecodeErrorUntouched(t *testing.T) {
	for _, status := range []int{200, 201, 204, 302, 399} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			resp, tb := errResponse(status, strings.NewReader(sampleNested))
			resp.Header.Set("X-Request-Id", "r")

			if got := DecodeError(resp); got != (ErrorBody{}) {
				t.Errorf("DecodeError = %+v, want zero", got)
			}
			if resp.Body != tb {
				t.Error("DecodeError replaced the body of a success")
			}
		})
	}

	t.Run("nil response", func(t *testing.T) {
		if got := DecodeError(nil); got != (ErrorBody{}) {
			t.Errorf("DecodeError(nil) = %+v", got)
		}
	})
	t.Run("nil body", func(t *testing.T) {
		resp := &http.Response{StatusCode: 500, Header: http.Header{}}
		if got := DecodeError(resp); got != (ErrorBody{}) || resp.Body != nil {
			t.Errorf("DecodeError = %+v, body %v", got, resp.Body)
		}
	})
}

func TestDecodeErrorTwice(t *testing.T) {
	resp, _ := errResponse(404, iotest.OneByteReader(strings.NewReader(sampleNested)))
	first := DecodeError(resp)
	body := resp.Body
	if second := DecodeError(resp); second != first || resp.Body != body {
		t.Fatalf("second DecodeError = %+v with a new body, want %+v", second, first)
	}
	if got, _ := io.ReadAll(resp.Body); string(got) != sampleNested {
		t.Errorf("body = %q, want %q", got, sampleNested)
	}
}

func TestDecodeErrorRelease(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		length     bool // set ContentLength
		fail       bool // a read error follows the bytes
		wantClosed bool
	}{
		{"small, length known", 200, true, false, true},
		{"small, length unknown", 200, false, false, true},
		{"empty", 0, true, false, true},
		{"one below the limit", MaxErrorBody - 1, false, false, true},
		{"at the limit", MaxErrorBody, true, false, true},
		{"above the limit, within the drain", MaxErrorBody + 1, true, false, true},
		{"past the drain", MaxErrorBody + maxDrain, false, false, false},
		{"read error", 200, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := randomBytes(tt.size)
			var r io.Reader = bytes.NewReader(want)
			if tt.fail {
				r = io.MultiReader(r, iotest.ErrReader(errors.New("reset")))
			}
			resp, tb := errResponse(500, r)
			if tt.length {
				resp.ContentLength = int64(tt.size)
			}

			DecodeError(resp)
			release(resp)
			if got := tb.closes == 1; got != tt.wantClosed {
				t.Fatalf("after release: %d closes, want closed=%v", tb.closes, tt.wantClosed)
			}
			release(resp) // a second release changes nothing

			got, err := io.ReadAll(resp.Body)
			if (err != nil) != tt.fail || !bytes.Equal(got, want) {
				t.Errorf("read %d bytes, %v; want %d bytes", len(got), err, len(want))
			}
			resp.Body.Close()
			if tb.closes != 1 {
				t.Errorf("underlying body closed %d times in all, want 1", tb.closes)
			}
		})
	}

	t.Run("not peeked", func(t *testing.T) {
		resp, tb := errResponse(500, strings.NewReader("x"))
		release(resp)
		if tb.closes != 0 || resp.Body != tb {
			t.Errorf("release touched a body it did not peek: %d closes", tb.closes)
		}
	})
}
