package kmsretry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// closedPort returns the address of a loopback port nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// roundTripErr sends a GET to rawURL through a transport of its own, with
// ctx, and returns the error, which must not be nil.
func roundTripErr(t *testing.T, ctx context.Context, rawURL string) error {
	t.Helper()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL,
		strings.NewReader(`{"key_id":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("RoundTrip to %s succeeded", rawURL)
	}
	return err
}

// hangUp returns the URL of a server that reads a request and then closes
// the connection, resetting it when reset is true.
func hangUp(t *testing.T, reset bool) string {
	t.Helper()

	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if reset {
			conn.(*net.TCPConn).SetLinger(0)
		}
		conn.Close()
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestClassifyFailureReal(t *testing.T) {
	live := context.Background()

	tests := []struct {
		name string
		err  func(t *testing.T) error
		want failure
	}{
		{"connection refused", func(t *testing.T) error {
			return roundTripErr(t, live, "http://"+closedPort(t)+"/v1.0/p/kms/create-key")
		}, failNotSent},
		{"connection refused through a client", func(t *testing.T) error {
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			_, err := c.Post("http://"+closedPort(t)+"/v1.0/p/kms/create-key",
				"application/json", strings.NewReader("{}"))
			return err
		}, failNotSent},
		{"closed after the request", func(t *testing.T) error {
			return roundTripErr(t, live, hangUp(t, false)+"/v1.0/p/kms/create-key")
		}, failAmbiguous},
		{"reset after the request", func(t *testing.T) error {
			return roundTripErr(t, live, hangUp(t, true)+"/v1.0/p/kms/create-key")
		}, failAmbiguous},
		{"unknown certificate authority", func(t *testing.T) error {
			ts := httptest.NewUnstartedServer(http.NotFoundHandler())
			ts.Config.ErrorLog = log.New(io.Discard, "", 0)
			ts.StartTLS()
			defer ts.Close()

			c := &http.Client{}
			defer c.CloseIdleConnections()
			_, err := c.Get(ts.URL + "/v1.0/p/kms/encrypt-data")
			return err
		}, failNever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			if got := classifyFailure(err, live, live); got != tt.want {
				t.Errorf("classifyFailure(%v) = %s, want %s", err, kindLabels[got],
					kindLabels[tt.want])
			}
		})
	}
}

// TestClassifyFailureContexts sends through real contexts: the attempt's own
// deadline against the caller's.
func TestClassifyFailureContexts(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	defer ts.Close()
	url := ts.URL + "/v1.0/p/kms/create-key"

	t.Run("attempt timed out, caller alive", func(t *testing.T) {
		parent := context.Background()
		attempt, cancel := context.WithDeadline(parent, time.Now().Add(-time.Second))
		defer cancel()

		err := roundTripErr(t, attempt, url)
		if got := classifyFailure(err, attempt, parent); got != failTimeout {
			t.Errorf("classifyFailure(%v) = %s, want timeout", err, kindLabels[got])
		}
	})

	t.Run("caller cancelled", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		cancel()
		attempt, cancel2 := context.WithTimeout(parent, time.Hour)
		defer cancel2()

		err := roundTripErr(t, attempt, url)
		if got := classifyFailure(err, attempt, parent); got != failNever {
			t.Errorf("classifyFailure(%v) = %s, want never", err, kindLabels[got])
		}
	})

	t.Run("caller's own deadline", func(t *testing.T) {
		parent, cancel := context.WithDeadline(context.Background(),
			time.Now().Add(-time.Second))
		defer cancel()

		err := roundTripErr(t, parent, url)
		if got := classifyFailure(err, parent, parent); got != failNever {
			t.Errorf("classifyFailure(%v) = %s, want never", err, kindLabels[got])
		}
	})
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyFailureValues(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithDeadline(live, time.Unix(0, 0))
	defer cancel2()

	reset := &net.OpError{Op: "read", Net: "tcp",
		Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}
	refused := &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	unknownCA := x509.UnknownAuthorityError{}
	wrapURL := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://kms.example/v1.0/p/kms/x", Err: err}
	}

	tests := []struct {
		name            string
		err             error
		attempt, parent context.Context
		want            failure
	}{
		{"dns error", &net.DNSError{Err: "no such host", Name: "kms.example",
			IsNotFound: true}, live, live, failNotSent},
		{"dns error zero", &net.DNSError{}, live, live, failNotSent},
		{"dns error in url error", wrapURL(&net.DNSError{}), live, live, failNotSent},
		{"dial refused", refused, live, live, failNotSent},
		{"dial timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, live, live,
			failNotSent},

		{"io.EOF", io.EOF, live, live, failAmbiguous},
		{"wrapped io.EOF", fmt.Errorf("net/http: transport connection broken: %w", io.EOF),
			live, live, failAmbiguous},
		{"io.ErrUnexpectedEOF", wrapURL(io.ErrUnexpectedEOF), live, live, failAmbiguous},
		{"ECONNRESET", reset, live, live, failAmbiguous},
		{"ECONNRESET wrapped twice", wrapURL(fmt.Errorf("read: %w", reset)), live, live,
			failAmbiguous},
		{"bare ECONNRESET", syscall.ECONNRESET, live, live, failAmbiguous},
		{"EPIPE", &net.OpError{Op: "write", Err: syscall.EPIPE}, live, live,
			failAmbiguous},
		{"ECONNABORTED", fmt.Errorf("x: %w", syscall.ECONNABORTED), live, live,
			failAmbiguous},
		{"other read op error", &net.OpError{Op: "read", Err: errors.New("odd")}, live, live,
			failAmbiguous},
		{"read timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, live, live,
			failTimeout},

		{"attempt deadline", context.DeadlineExceeded, expired, live, failTimeout},
		{"attempt deadline in url error", wrapURL(context.DeadlineExceeded), expired, live,
			failTimeout},
		{"deadline error, attempt alive", context.DeadlineExceeded, live, live, failTimeout},
		{"parent cancelled", context.Canceled, cancelled, cancelled, failNever},
		{"parent cancelled, reset error", reset, cancelled, cancelled, failNever},
		{"parent expired", context.DeadlineExceeded, expired, expired, failNever},

		{"unknown authority", unknownCA, live, live, failNever},
		{"unknown authority wrapped", wrapURL(fmt.Errorf("tls: %w", unknownCA)), live, live,
			failNever},
		{"hostname mismatch", x509.HostnameError{Host: "kms.example"}, live, live,
			failNever},
		{"expired certificate", x509.CertificateInvalidError{Reason: x509.Expired}, live,
			live, failNever},
		{"plain error", errors.New("net/http: invalid header field name"), live, live,
			failNever},
		{"url error around a plain one", wrapURL(errors.New("unsupported protocol scheme")),
			live, live, failNever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyFailure(tt.err, tt.attempt, tt.parent); got != tt.want {
				t.Errorf("classifyFailure(%v) = %s, want %s", tt.err, kindLabels[got],
					kindLabels[tt.want])
			}
		})
	}
}

func TestStripURL(t *testing.T) {
	inner := errors.New("connection reset")
	wrapped := fmt.Errorf("read: %w", inner)
	nilInner := &url.Error{Op: "Get", URL: "https://kms.example/?q=secret"}

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"plain", inner, inner},
		{"one url error", &url.Error{Op: "Post", URL: "https://kms.example/?k=s",
			Err: inner}, inner},
		{"nested url errors", &url.Error{Op: "Post", URL: "https://a/?k=s",
			Err: &url.Error{Op: "Post", URL: "https://b/?k=s", Err: wrapped}}, wrapped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stripURL(tt.err)
			if got != tt.want {
				t.Errorf("stripURL(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if tt.want != nil && strings.Contains(got.Error(), "?k=s") {
				t.Errorf("stripURL left the query in %q", got)
			}
		})
	}

	// A *url.Error deeper in the chain, or with nothing inside, cannot be
	// unwrapped away: its URL is blanked out of the text instead.
	deep := fmt.Errorf("proxy: %w", &url.Error{Op: "Post", URL: "https://kms.example/?sig=s",
		Err: inner})
	redactions := []struct {
		name string
		err  error
		want string
	}{
		{"url error with nil Err", nilInner, `Get "[URL removed]": %!s(<nil>)`},
		{"url error around one with nil Err", &url.Error{Op: "Get", URL: "https://c/",
			Err: nilInner}, `Get "[URL removed]": %!s(<nil>)`},
		{"url error inside another error", deep,
			`proxy: Post "[URL removed]": connection reset`},
	}
	for _, tt := range redactions {
		t.Run(tt.name, func(t *testing.T) {
			got := stripURL(tt.err)
			if got.Error() != tt.want {
				t.Errorf("stripURL(%v) = %q, want %q", tt.err, got, tt.want)
			}
			var ue *url.Error
			if !errors.As(got, &ue) {
				t.Errorf("errors.As no longer reaches the *url.Error")
			}
		})
	}

	t.Run("keeps the chain", func(t *testing.T) {
		err := stripURL(&url.Error{Op: "Post", URL: "https://a/?k=s",
			Err: fmt.Errorf("read: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET})})
		var op *net.OpError
		if !errors.As(err, &op) || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("stripURL lost the chain: %v", err)
		}
		if strings.Contains(err.Error(), "https://a") {
			t.Errorf("stripURL kept the URL: %q", err)
		}
	})
}
