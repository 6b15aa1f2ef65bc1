package retryablekms_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.uber.org/goleak"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/retryablekms"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// reqBody is the request body of every test request.
const reqBody = `{"key_id":"0d0466b0-e727-4d9c-b35d-f84bb474a37f","plain_text":"aGVsbG8="}`

// answer is one scripted answer of a server.
type answer struct {
	status     int
	body       string
	html       bool   // sent as text/html, as a proxy would
	retryAfter string // the Retry-After header, if not ""
	drop       bool   // close the connection instead of answering
}

func ok() answer { return answer{status: 200, body: `{"key_id":"k1","cipher_text":"c2VhbGVk"}`} }

// kms is a nested KMS error answer.
func kms(status int, code string) answer {
	body := fmt.Sprintf(`{"error":{"error_code":%q,"error_msg":"scripted"}}`, code)
	return answer{status: status, body: body}
}

// server answers from a script, repeating its last answer when it runs out,
// and records the body of every request.
type server struct {
	*httptest.Server

	mu     sync.Mutex
	script []answer
	bodies [][]byte
}

func newServer(t *testing.T, script ...answer) *server {
	t.Helper()
	s := &server{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)

	s.mu.Lock()
	a := s.script[min(len(s.bodies), len(s.script)-1)]
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()

	if a.drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}

	w.Header().Set("Content-Type", "application/json")
	if a.html {
		w.Header().Set("Content-Type", "text/html")
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// received returns the bodies of the requests served so far.
func (s *server) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies
}

func (s *server) url(action string) string { return s.URL + "/v1.0/p1/kms/" + action }

// newClient returns a configured client that waits a millisecond or two.
func newClient(t *testing.T, retryMax int) *retryablehttp.Client {
	t.Helper()
	c := retryablekms.NewClient()
	c.RetryMax = retryMax
	c.RetryWaitMin = time.Millisecond
	c.RetryWaitMax = 2 * time.Millisecond
	c.Logger = nil
	t.Cleanup(c.HTTPClient.CloseIdleConnections)
	return c
}

func post(t *testing.T, c *retryablehttp.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := retryablehttp.NewRequest(http.MethodPost, url, []byte(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

// checkBodies fails unless the server got n requests, each with reqBody.
func checkBodies(t *testing.T, s *server, n int) {
	t.Helper()
	got := s.received()
	if len(got) != n {
		t.Fatalf("server got %d requests, want %d", len(got), n)
	}
	for i, b := range got {
		if string(b) != reqBody {
			t.Errorf("request %d body = %q, want %q", i+1, b, reqBody)
		}
	}
}

func TestAnswers(t *testing.T) {
	throttled := answer{status: 429, retryAfter: "0",
		body: `{"error_code":"APIGW.0308","error_msg":"throttled","request_id":"r1"}`}
	html := answer{status: 502, html: true, body: "<html><h1>502 Bad Gateway</h1></html>"}

	tests := []struct {
		name     string
		action   string
		script   []answer
		retryMax int
		slow     bool // waits of 5s, which only a Retry-After can shorten
		sends    int
		status   int
		code     string
		sentinel error
	}{
		{"KMS.0101 twice then success", "encrypt-data",
			[]answer{kms(500, "KMS.0101"), kms(500, "KMS.0101"), ok()}, 4, false, 3, 200, "", nil},
		{"fatal KMS.0207 is returned at once", "encrypt-data",
			[]answer{kms(404, "KMS.0207")}, 4, false, 1, 404, "KMS.0207", kmsretry.ErrFatal},
		{"billing KMS.0320 is final", "encrypt-data",
			[]answer{kms(400, "KMS.0320")}, 4, false, 1, 400, "KMS.0320", kmsretry.ErrBilling},
		{"auth KMS.0303 is final", "encrypt-data",
			[]answer{kms(403, "KMS.0303")}, 4, false, 1, 403, "KMS.0303", kmsretry.ErrAuthRefresh},
		{"429 with Retry-After: 0", "encrypt-data",
			[]answer{throttled, ok()}, 4, true, 2, 200, "", nil},
		{"HTML 502 from a proxy", "encrypt-data",
			[]answer{html, ok()}, 4, false, 2, 200, "", nil},
		{"undocumented KMS.0104 with 503", "encrypt-data",
			[]answer{kms(503, "KMS.0104"), ok()}, 4, false, 2, 200, "", nil},
		{"coded error on an unsafe action", "create-key",
			[]answer{kms(500, "KMS.0101"), ok()}, 4, false, 2, 200, "", nil},
		{"last answer kept when retries run out", "encrypt-data",
			[]answer{kms(500, "KMS.0101")}, 2, false, 3, 500, "KMS.0101", kmsretry.ErrRetryable},
		{"last HTML page kept when retries run out", "encrypt-data",
			[]answer{html}, 1, false, 2, 502, "", kmsretry.ErrRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.script...)
			c := newClient(t, tt.retryMax)
			if tt.slow {
				c.RetryWaitMin, c.RetryWaitMax = 5*time.Second, 5*time.Second
			}

			start := time.Now()
			resp, err := post(t, c, srv.url(tt.action))
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			if tt.slow && time.Since(start) > 2*time.Second {
				t.Errorf("took %v: Retry-After: 0 was not honoured", time.Since(start))
			}

			checkBodies(t, srv, tt.sends)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}

			kerr := kmsretry.ResponseError(resp)
			if !errors.Is(kerr, tt.sentinel) || (tt.sentinel == nil) != (kerr == nil) {
				t.Errorf("ResponseError = %v, want one matching %v", kerr, tt.sentinel)
			}
			var e *kmsretry.Error
			if errors.As(kerr, &e) && e.Code != tt.code {
				t.Errorf("code = %q, want %q", e.Code, tt.code)
			}

			got, err := io.ReadAll(resp.Body)
			want := tt.script[min(tt.sends, len(tt.script))-1].body
			if err != nil || string(got) != want {
				t.Errorf("body = %q, %v; want %q", got, err, want)
			}
		})
	}
}

func TestNetworkFailures(t *testing.T) {
	drop := answer{drop: true}

	tests := []struct {
		name    string
		action  string
		script  []answer
		sends   int
		unknown bool // the error must wrap kmsretry.ErrOutcomeUnknown
	}{
		{"dropped create-key is not resent", "create-key", []answer{drop, ok()}, 1, true},
		{"dropped schedule-key-deletion is not resent", "schedule-key-deletion",
			[]answer{drop, ok()}, 1, true},
		{"dropped encrypt-data is resent", "encrypt-data", []answer{drop, ok()}, 2, false},
		{"dropped decrypt-data until retries run out", "decrypt-data", []answer{drop}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.script...)
			c := newClient(t, 2)

			resp, err := post(t, c, srv.url(tt.action)+"?marker=q1")
			if resp != nil {
				defer resp.Body.Close()
			}

			checkBodies(t, srv, tt.sends)
			if got := errors.Is(err, kmsretry.ErrOutcomeUnknown); got != tt.unknown {
				t.Errorf("errors.Is(%v, ErrOutcomeUnknown) = %v, want %v", err, got, tt.unknown)
			}
			if tt.unknown && strings.Contains(err.Error(), "marker=q1") {
				t.Errorf("error %q holds the URL's query", err)
			}
			if err == nil && resp.StatusCode != 200 {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestRefusedDialIsResent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	target := srv.URL + "/v1.0/p1/kms/create-key"
	srv.Close()

	c := newClient(t, 2)
	var sends int
	c.RequestLogHook = func(retryablehttp.Logger, *http.Request, int) { sends++ }

	resp, err := post(t, c, target)
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do succeeded against a closed port")
	}
	if sends != 3 || errors.Is(err, kmsretry.ErrOutcomeUnknown) {
		t.Errorf("sends = %d, err = %v; want 3 sends, a plain dial error", sends, err)
	}
}

func TestStandardClient(t *testing.T) {
	srv := newServer(t, kms(500, "KMS.0102"), kms(404, "KMS.0207"))
	c := newClient(t, 4)
	hc := c.StandardClient()

	resp, err := hc.Post(srv.url("decrypt-data"), "application/json", strings.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	checkBodies(t, srv, 2)
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != kms(404, "KMS.0207").body {
		t.Errorf("body = %q, %v", got, err)
	}
	if err := kmsretry.ResponseError(resp); !errors.Is(err, kmsretry.ErrFatal) {
		t.Errorf("ResponseError = %v, want ErrFatal", err)
	}
}

func TestCheckRetry(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	failed := func(op, action string, err error) error {
		return &url.Error{Op: op, URL: "https://kms.example/v1.0/p1/kms/" + action, Err: err}
	}
	answered := func(status int, action string) *http.Response {
		req := httptest.NewRequest(http.MethodPost, "/v1.0/p1/kms/"+action, nil)
		body := io.NopCloser(strings.NewReader(kms(status, "KMS.0207").body))
		return &http.Response{StatusCode: status, Body: body, Request: req}
	}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	certErr := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}

	tests := []struct {
		name  string
		ctx   context.Context
		resp  *http.Response
		err   error
		retry bool
		want  error
	}{
		{"canceled context", canceled, nil, failed("Post", "encrypt-data", io.EOF), false,
			context.Canceled},
		{"EOF on create-key", nil, nil, failed("Post", "create-key", io.EOF), false,
			kmsretry.ErrOutcomeUnknown},
		{"EOF on enable-key", nil, nil, failed("Post", "enable-key", io.EOF), false,
			kmsretry.ErrOutcomeUnknown},
		{"EOF on encrypt-data", nil, nil, failed("Post", "encrypt-data", io.EOF), true, nil},
		{"EOF on a GET", nil, nil, failed("Get", "create-key", io.EOF), true, nil},
		{"refused dial on create-key", nil, nil, failed("Post", "create-key", dial), true, nil},
		{"unresolved name on create-key", nil, nil,
			failed("Post", "create-key", &net.DNSError{Err: "no such host"}), true, nil},
		{"untrusted certificate", nil, nil, failed("Post", "encrypt-data", certErr), false, nil},
		{"error naming no request", nil, nil, errors.New("boom"), false,
			kmsretry.ErrOutcomeUnknown},
		{"handler rejects success of a safe action", nil, answered(200, "encrypt-data"),
			errors.New("bad"), true, nil},
		{"handler rejects success of create-key", nil, answered(200, "create-key"),
			errors.New("bad"), false, nil},
		{"handler rejects a fatal answer", nil, answered(404, "encrypt-data"),
			errors.New("bad"), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}

			retry, err := retryablekms.CheckRetry(ctx, tt.resp, tt.err)
			if retry != tt.retry || !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckRetry = %v, %v; want %v, %v", retry, err, tt.retry, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	const ms = time.Millisecond
	soon := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)

	tests := []struct {
		name       string
		retryAfter string // "-" for no answer at all
		min, max   time.Duration
		attempt    int
		lo, hi     time.Duration
	}{
		{"seconds", "3", 100 * ms, time.Minute, 0, 3 * time.Second, 3 * time.Second},
		{"seconds capped by max", "3", 100 * ms, 2 * time.Second, 0, 2 * time.Second,
			2 * time.Second},
		{"zero", "0", 100 * ms, time.Minute, 3, 0, 0},
		{"huge", "99999999999999999", 100 * ms, time.Minute, 0, time.Minute, time.Minute},
		{"HTTP-date", soon, 100 * ms, time.Minute, 0, 28 * time.Second, 30 * time.Second},
		{"HTTP-date capped by max", soon, 100 * ms, time.Second, 0, time.Second, time.Second},
		{"past date is absent", past, 100 * ms, time.Minute, 0, 100 * ms, 100 * ms},
		{"negative is absent", "-5", 100 * ms, time.Minute, 0, 100 * ms, 100 * ms},
		{"garbage is absent", "soon", 100 * ms, time.Minute, 1, 100 * ms, 200 * ms},
		{"no header, first retry", "", 100 * ms, 10 * time.Second, 0, 100 * ms, 100 * ms},
		{"no header, fourth retry", "", 100 * ms, 10 * time.Second, 3, 400 * ms, 800 * ms},
		{"no header, capped", "", 100 * ms, time.Second, 20, 500 * ms, time.Second},
		{"no answer", "-", 100 * ms, 10 * time.Second, 2, 200 * ms, 400 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.retryAfter != "-" {
				resp = &http.Response{StatusCode: 429, Header: http.Header{}}
				if tt.retryAfter != "" {
					resp.Header.Set("Retry-After", tt.retryAfter)
				}
			}

			for range 100 {
				got := retryablekms.Backoff(tt.min, tt.max, tt.attempt, resp)
				if got < tt.lo || got > tt.hi {
					t.Fatalf("Backoff = %v, want within [%v, %v]", got, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestErrorHandlerClosesUnwantedAnswer(t *testing.T) {
	var closed bool
	body := &closeRecorder{Reader: bytes.NewReader([]byte("x")), closed: &closed}
	resp := &http.Response{StatusCode: 500, Body: body}

	got, err := retryablekms.ErrorHandler(resp, io.EOF, 2)
	if got != nil || !errors.Is(err, io.EOF) || !closed {
		t.Errorf("ErrorHandler = %v, %v, closed %v; want nil, EOF, closed", got, err, closed)
	}
}

type closeRecorder struct {
	io.Reader
	closed *bool
}

func (c *closeRecorder) Close() error {
	*c.closed = true
	return nil
}

// noSleep is a kmsretry.Clock whose waits end at once.
type noSleep struct{}

func (noSleep) Now() time.Time { return time.Now() }

func (noSleep) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// TestTransportUnderClient follows docs/middleware.md: kmsretry retries under
// a retryablehttp.Client whose own retries are off.
func TestTransportUnderClient(t *testing.T) {
	srv := newServer(t, kms(500, "KMS.0101"), kms(500, "KMS.0101"), kms(404, "KMS.0207"))

	c := retryablehttp.NewClient()
	c.Logger = nil
	c.RetryMax = 0
	c.CheckRetry = func(context.Context, *http.Response, error) (bool, error) { return false, nil }
	c.HTTPClient.Transport = kmsretry.New(c.HTTPClient.Transport, kmsretry.WithClock(noSleep{}))
	t.Cleanup(c.HTTPClient.CloseIdleConnections)

	resp, err := post(t, c, srv.url("encrypt-data"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	checkBodies(t, srv, 3)
	var e *kmsretry.Error
	if !errors.As(kmsretry.ResponseError(resp), &e) || e.Code != "KMS.0207" || e.Attempts != 3 {
		t.Errorf("ResponseError = %v, want KMS.0207 after 3 attempts", e)
	}
	if got, err := io.ReadAll(resp.Body); err != nil || string(got) != kms(404, "KMS.0207").body {
		t.Errorf("body = %q, %v", got, err)
	}
}
