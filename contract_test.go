package kmsretry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rtFunc turns a function into a RoundTripper.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBodyOutlivesAttemptTimeout(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	tests := []struct {
		name   string
		answer answer
	}{
		{"large success", answer{status: 200, body: big}},
		{"large error answer", answer{status: 500,
			body: `{"error":{"error_code":"KMS.0101"}}` + big}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, tt.answer)
			tr := New(nil, WithClock(newFakeClock()),
				WithPolicy(Retryable, Policy{AttemptTimeout: 30 * time.Millisecond}))

			resp, err := tr.RoundTrip(post(t, srv.url("encrypt-data"), `{}`))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(60 * time.Millisecond) // well past the attempt's timeout
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()

			want := tt.answer.body
			if err != nil || string(got) != want {
				t.Errorf("read %d of %d bytes, err %v", len(got), len(want), err)
			}
		})
	}
}

func TestResponseErrorThroughWrappedBody(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.2403", 400))
	tr := New(nil, WithClock(newFakeClock()), WithClass("KMS.2403", Retryable))
	client := &http.Client{Transport: tr, Timeout: time.Minute} // wraps resp.Body

	resp, err := client.Do(post(t, srv.url("create-grant"), `{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	var e *Error
	if !errors.As(ResponseError(resp), &e) || e.Attempts != 4 || e.Class != Retryable {
		t.Errorf("ResponseError = %+v, want 4 attempts of class retryable", e)
	}
}

func TestCancelDuringWaitAfterNetworkFailure(t *testing.T) {
	srv := newKMSServer(t, answer{drop: true})
	tr := New(nil, WithPolicy(Retryable, Policy{Backoff: constant(time.Hour),
		MaxElapsed: 2 * time.Hour}))

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	_, err := tr.RoundTrip(post(t, srv.url("gen-random"), `{}`).WithContext(ctx))

	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRetryable) {
		t.Errorf("err = %v, want context.Canceled and not ErrRetryable", err)
	}
}

func TestOddTransportAnswers(t *testing.T) {
	var closed atomic.Int32
	body := func() io.ReadCloser {
		return &closeCounter{Reader: strings.NewReader("x"), n: &closed}
	}
	tests := []struct {
		name    string
		rt      rtFunc
		opts    []Option
		status  int
		wantErr bool
	}{
		{"nil body with an attempt timeout", func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, Request: r}, nil
		}, []Option{WithPolicy(Retryable, Policy{AttemptTimeout: time.Second})}, 200, false},
		{"nil body on an error status", func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 500, Header: http.Header{}, Request: r}, nil
		}, nil, 500, false},
		{"neither response nor error", func(*http.Request) (*http.Response, error) {
			return nil, nil
		}, nil, 0, true},
		{"both response and error", func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: body(), Request: r}, io.ErrUnexpectedEOF
		}, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed.Store(0)
			tr := New(tt.rt, append([]Option{WithClock(newFakeClock())}, tt.opts...)...)

			resp, err := tr.RoundTrip(post(t, "http://127.0.0.1:1/v1.0/p/kms/gen-random", `{}`))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
				}
			}
			if tt.name == "both response and error" && closed.Load() != 4 {
				t.Errorf("closed %d of the 4 bodies returned beside errors", closed.Load())
			}
		})
	}
}

type closeCounter struct {
	io.Reader
	n *atomic.Int32
}

func (c *closeCounter) Close() error {
	c.n.Add(1)
	return nil
}

func TestGetBodyFailureKeepsAnswer(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500), ok())
	tr := New(nil, WithClock(newFakeClock()))

	req := post(t, srv.url("encrypt-data"), `{}`)
	req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("no replay") }
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("err = %v, want the 500 in hand", err)
	}
	resp.Body.Close()

	if resp.StatusCode != 500 || srv.hits.Load() != 1 {
		t.Errorf("status %d after %d sends, want 500 after 1", resp.StatusCode, srv.hits.Load())
	}
}

func TestInnerErrorsAndMessagesScrubbed(t *testing.T) {
	const secret = "SEKRIT-9"
	var logs bytes.Buffer
	leaky := rtFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("signing " + r.URL.String() + " failed")
	})
	tr := New(leaky, WithClock(newFakeClock()),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	_, err := tr.RoundTrip(post(t, "http://127.0.0.1:1/v1.0/p/kms/gen-random?token="+secret, `{}`))
	if err == nil || strings.Contains(err.Error(), secret) ||
		strings.Contains(logs.String(), secret) {
		t.Errorf("secret in error %q or log %q", err, logs.String())
	}

	e := &Error{Code: "KMS.0101", Status: 500, Message: "line one\nline two\r\n", Action: "x"}
	if strings.ContainsAny(e.Error(), "\r\n") {
		t.Errorf("Error() spans lines: %q", e.Error())
	}
}

func TestLargeErrorBodiesKeepConnections(t *testing.T) {
	big := `{"error":{"error_code":"KMS.0101"}}` + strings.Repeat("p", 100<<10)
	srv := newKMSServer(t, answer{status: 500, body: big}, answer{status: 500, body: big}, ok())
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	tr := New(base, WithClock(newFakeClock()))

	resp, err := tr.RoundTrip(post(t, srv.url("encrypt-data"), `{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if srv.hits.Load() != 3 || srv.conns.Load() != 1 {
		t.Errorf("%d sends over %d connections, want 3 over 1", srv.hits.Load(), srv.conns.Load())
	}
}

func TestZeroTransportRefuses(t *testing.T) {
	body := &countingBody{Reader: strings.NewReader("{}")}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/v1.0/p/kms/gen-random", body)

	_, err := (&Transport{}).RoundTrip(req)
	if !errors.Is(err, errNotMade) || body.closes.Load() != 1 {
		t.Errorf("err %v, body closed %d times; want errNotMade and 1", err, body.closes.Load())
	}
	if New(nil, nil) == nil {
		t.Error("New with a nil option returned nil")
	}
}

// idleCounter counts CloseIdleConnections calls.
type idleCounter struct {
	http.RoundTripper
	n atomic.Int32
}

func (c *idleCounter) CloseIdleConnections() { c.n.Add(1) }

func TestCloseIdleConnectionsReachesNext(t *testing.T) {
	next := &idleCounter{RoundTripper: http.DefaultTransport}
	client := &http.Client{Transport: New(next)}

	client.CloseIdleConnections()

	if next.n.Load() != 1 {
		t.Errorf("wrapped transport saw %d calls, want 1", next.n.Load())
	}
}
