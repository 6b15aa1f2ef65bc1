package bench

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkOverhead is BenchmarkRoundTrip without the network: every
// contender wraps a stub transport that answers from memory, so what is
// measured is the CPU time and memory each library adds to a request,
// without the tens of microseconds of loopback traffic whose noise hides it.
func BenchmarkOverhead(b *testing.B) {
	for _, p := range paths {
		next := &stub{path: p.name}
		for _, c := range contenders(b, next) {
			name := "path=" + p.name + "/rt=" + c.name
			b.Run(name, func(b *testing.B) { benchPath(b, p, false, c) })
		}
	}
}

// stub answers as the loopback server of its path does: it reads and closes
// the request body and returns a fresh response holding the canned body.
type stub struct {
	path string
	once failOnce
}

func (s *stub) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}

	status, body := http.StatusOK, okBody
	switch {
	case s.path == "give-up",
		s.path == "one-retry" && s.once.first(req.Header.Get(seqHeader)):
		status, body = http.StatusInternalServerError, failBody
	}
	return &http.Response{
		Status:     http.StatusText(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type": {"application/json;charset=UTF-8"},
			"X-Request-Id": {"7c1f4e9a0b2d4c6e8f1a3b5d7e9f0a2c"},
		},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}
