package kmsretry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestClassBehaviour(t *testing.T) {
	tests := []struct {
		name     string
		answer   answer
		hits     int64
		class    Class
		sentinel error
		waits    int
	}{
		{"retryable KMS.0101", kms("KMS.0101", 500), 4, Retryable, ErrRetryable, 3},
		{"retryable KMS.0102", kms("KMS.0102", 500), 4, Retryable, ErrRetryable, 3},
		{"retryable KMS.0323", kms("KMS.0323", 400), 4, Retryable, ErrRetryable, 3},
		{"retryable KMS.1108", kms("KMS.1108", 400), 4, Retryable, ErrRetryable, 3},
		{"throttled APIGW.0308", answer{status: 429, code: "APIGW.0308", flat: true}, 5,
			Throttled, ErrThrottled, 4},
		{"throttled bare 429", answer{status: 429, body: "slow down"}, 5, Throttled,
			ErrThrottled, 4},
		{"gateway APIG.0201", answer{status: 502, code: "APIG.0201", flat: true}, 4,
			Retryable, ErrRetryable, 3},
		{"html 502", answer{status: 502, body: "<html>bad gateway</html>"}, 4, Retryable,
			ErrRetryable, 3},
		{"undocumented 503", kms("KMS.0104", 503), 4, Retryable, ErrRetryable, 3},
		{"undocumented 400", kms("KMS.9999", 400), 1, Fatal, ErrFatal, 0},
		{"fatal KMS.0207", kms("KMS.0207", 404), 1, Fatal, ErrFatal, 0},
		{"fatal KMS.0306", kms("KMS.0306", 403), 1, Fatal, ErrFatal, 0},
		{"billing KMS.0320", kms("KMS.0320", 400), 1, Billing, ErrBilling, 0},
		{"billing KMS.0328", kms("KMS.0328", 403), 1, Billing, ErrBilling, 0},
		{"auth without refresher", kms("KMS.0303", 403), 1, AuthRefresh, ErrAuthRefresh, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, tt.answer)
			clk := newFakeClock()
			client := &http.Client{Transport: New(nil, WithClock(clk))}

			resp, err := client.Do(post(t, srv.url("encrypt-data"), `{"key_id":"k"}`))
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()

			if got := srv.hits.Load(); got != tt.hits {
				t.Errorf("server hits = %d, want %d", got, tt.hits)
			}
			if got := len(clk.waits()); got != tt.waits {
				t.Errorf("waits = %d, want %d", got, tt.waits)
			}
			if resp.StatusCode != tt.answer.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.answer.status)
			}

			var e *Error
			if !errors.As(ResponseError(resp), &e) {
				t.Fatalf("ResponseError is not *Error")
			}
			if e.Class != tt.class || int64(e.Attempts) != tt.hits {
				t.Errorf("class %v attempts %d, want %v %d", e.Class, e.Attempts, tt.class, tt.hits)
			}
			if !errors.Is(e, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", e, tt.sentinel)
			}
			if e.Action != "encrypt-data" || e.RequestID != "req-"+strconv.FormatInt(tt.hits, 10) {
				t.Errorf("action %q request id %q", e.Action, e.RequestID)
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500), kms("KMS.0102", 500), ok())
	clk := newFakeClock()
	client := &http.Client{Transport: New(nil, WithClock(clk))}

	resp, err := client.Do(post(t, srv.url("encrypt-data"), `{"plain_text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != 200 || string(body) != `{"key_id":"k1"}` {
		t.Fatalf("final = %d %q", resp.StatusCode, body)
	}
	if ResponseError(resp) != nil {
		t.Errorf("ResponseError on success = %v", ResponseError(resp))
	}
	if got := srv.hits.Load(); got != 3 {
		t.Errorf("hits = %d, want 3", got)
	}

	// Default retryable backoff: 100ms then 200ms, each jittered by ±50%.
	w := clk.waits()
	if len(w) != 2 || w[0] < 50*time.Millisecond || w[0] > 150*time.Millisecond ||
		w[1] < 100*time.Millisecond || w[1] > 300*time.Millisecond {
		t.Errorf("waits = %v, want ~100ms then ~200ms", w)
	}
}

func TestBodyReplayedByteForByte(t *testing.T) {
	payload := `{"key_id":"0d0466b0-e727-4d9c-b35d-f84bb474a37f","plain_text":"` +
		strings.Repeat("é", 1000) + `"}`
	bodies := map[string]func() *http.Request{
		"with GetBody": func() *http.Request {
			return post(t, "", payload)
		},
		"plain reader": func() *http.Request {
			r := post(t, "", payload)
			r.Body = io.NopCloser(strings.NewReader(payload))
			r.GetBody = nil
			return r
		},
	}
	for name, mk := range bodies {
		t.Run(name, func(t *testing.T) {
			srv := newKMSServer(t, kms("KMS.0101", 500), answer{status: 429, code: "APIGW.0308",
				flat: true}, ok())
			client := &http.Client{Transport: New(nil, WithClock(newFakeClock()))}

			req := mk()
			req.URL, _ = req.URL.Parse(srv.url("encrypt-data"))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			got := srv.received()
			if len(got) != 3 {
				t.Fatalf("server got %d bodies, want 3", len(got))
			}
			for i, b := range got {
				if !bytes.Equal(b, []byte(payload)) {
					t.Errorf("attempt %d body differs: %d bytes", i+1, len(b))
				}
			}
		})
	}
}

func TestRequestBodyClosedOnce(t *testing.T) {
	tests := []struct {
		name    string
		script  []answer
		opts    []Option
		getBody bool
	}{
		{"success", []answer{ok()}, nil, false},
		{"success with GetBody", []answer{ok()}, nil, true},
		{"retries", []answer{kms("KMS.0101", 500), kms("KMS.0101", 500), ok()}, nil, false},
		{"retries with GetBody", []answer{kms("KMS.0101", 500), ok()}, nil, true},
		{"gives up", []answer{kms("KMS.0101", 500)}, nil, false},
		{"fatal", []answer{kms("KMS.0207", 404)}, nil, false},
		{"too long to buffer", []answer{kms("KMS.0101", 500)},
			[]Option{WithMaxBodyBuffer(4)}, false},
		{"refresher", []answer{kms("KMS.0303", 403), ok()},
			[]Option{WithRefresher(NewTokenRefresher("a", func(context.Context) (string, error) {
				return "b", nil
			}), 0)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, tt.script...)
			opts := append([]Option{WithClock(newFakeClock())}, tt.opts...)
			tr := New(nil, opts...)

			body := &countingBody{Reader: strings.NewReader(`{"key_id":"k"}`)}
			req, _ := http.NewRequest(http.MethodPost, srv.url("encrypt-data"), body)
			req.ContentLength = 14
			if tt.getBody {
				req.GetBody = func() (io.ReadCloser, error) {
					return io.NopCloser(strings.NewReader(`{"key_id":"k"}`)), nil
				}
			}

			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			// net/http closes a body it sent from its write loop, which may
			// finish just after the answer is read.
			for i := 0; i < 200 && body.closes.Load() == 0; i++ {
				time.Sleep(5 * time.Millisecond)
			}
			if n := body.closes.Load(); n != 1 {
				t.Errorf("body closed %d times, want 1", n)
			}
		})
	}
}

func TestTooLongBodySentOnce(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500), ok())
	tr := New(nil, WithClock(newFakeClock()), WithMaxBodyBuffer(8))

	req := post(t, srv.url("encrypt-data"), `{"plain_text":"longer than eight"}`)
	req.GetBody = nil
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if resp.StatusCode != 500 || srv.hits.Load() != 1 {
		t.Errorf("status %d after %d sends, want 500 after 1", resp.StatusCode, srv.hits.Load())
	}
	if got := string(srv.received()[0]); got != `{"plain_text":"longer than eight"}` {
		t.Errorf("server got %q", got)
	}
}

func TestCallerRequestNotModified(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0303", 403), kms("KMS.0101", 500), ok())
	refresher := NewTokenRefresher("old", func(context.Context) (string, error) {
		return "new", nil
	})
	tr := New(nil, WithClock(newFakeClock()), WithRefresher(refresher, 0),
		WithPolicy(Retryable, Policy{AttemptTimeout: time.Minute}))

	req := post(t, srv.url("encrypt-data"), `{"key_id":"k"}`)
	req.Header.Set("X-Custom", "1")
	ctx := req.Context()
	before := req.Header.Clone()
	url := req.URL.String()

	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if len(req.Header) != len(before) || req.Header.Get("X-Auth-Token") != "" ||
		req.Header.Get("X-Custom") != "1" {
		t.Errorf("caller's header changed: %v", req.Header)
	}
	if req.URL.String() != url || req.Context() != ctx {
		t.Errorf("caller's URL or context changed")
	}

	srv.mu.Lock()
	defer srv.mu.Unlock()
	if got := []string{srv.hdrs[0].Get("X-Auth-Token"), srv.hdrs[1].Get("X-Auth-Token"),
		srv.hdrs[2].Get("X-Auth-Token")}; got[0] != "old" || got[1] != "new" || got[2] != "new" {
		t.Errorf("tokens sent = %v, want [old new new]", got)
	}
}

func TestFinalBodyReadableAfterGivingUp(t *testing.T) {
	long := `{"error":{"error_code":"KMS.0101","error_msg":"x"},"pad":"` +
		strings.Repeat("p", 3*MaxErrorBody) + `"}`
	tests := []struct {
		name string
		body string
		opts []Option
	}{
		{"short body", `{"error":{"error_code":"KMS.0101","error_msg":"boom"}}`, nil},
		{"body past the peek limit", long, nil},
		{"with attempt timeout", long,
			[]Option{WithPolicy(Retryable, Policy{AttemptTimeout: time.Minute})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, answer{status: 500, body: tt.body})
			tr := New(nil, append([]Option{WithClock(newFakeClock())}, tt.opts...)...)

			resp, err := tr.RoundTrip(post(t, srv.url("decrypt-data"), `{}`))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()

			if err != nil || string(got) != tt.body {
				t.Errorf("read %d bytes (err %v), want the %d-byte body",
					len(got), err, len(tt.body))
			}
			if srv.hits.Load() != 4 {
				t.Errorf("hits = %d, want 4", srv.hits.Load())
			}
		})
	}
}

func TestConnectionsReused(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500), kms("KMS.0101", 500), ok())
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: New(base, WithClock(newFakeClock()))}

	for range 5 {
		resp, err := client.Do(post(t, srv.url("encrypt-data"), `{}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	if got := srv.conns.Load(); got != 1 {
		t.Errorf("server saw %d connections for 7 sends, want 1", got)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	future := time.Date(2026, 12, 3, 12, 0, 7, 0, time.UTC).Format(http.TimeFormat)
	tests := []struct {
		name  string
		value string
		hits  int64
		waits []time.Duration
	}{
		{"seconds", "3", 2, []time.Duration{3 * time.Second}},
		{"zero", "0", 2, []time.Duration{0}},
		{"http date", future, 2, []time.Duration{7 * time.Second}},
		{"beyond the policy's cap", "60", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, answer{status: 429, code: "APIGW.0308", flat: true,
				header: map[string]string{"Retry-After": tt.value}}, ok())
			clk := newFakeClock()
			tr := New(nil, WithClock(clk))

			resp, err := tr.RoundTrip(post(t, srv.url("encrypt-data"), `{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			if srv.hits.Load() != tt.hits {
				t.Errorf("hits = %d, want %d", srv.hits.Load(), tt.hits)
			}
			if w := clk.waits(); len(w) != len(tt.waits) || (len(w) > 0 && w[0] != tt.waits[0]) {
				t.Errorf("waits = %v, want %v", w, tt.waits)
			}
		})
	}
}

func TestWaitNeverPassesDeadline(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500), ok())
	clk := newFakeClock()
	clk.now = time.Now() // context deadlines are on the system clock
	tr := New(nil, WithClock(clk), WithPolicy(Retryable, Policy{Backoff: constant(time.Hour),
		MaxElapsed: 2 * time.Hour}))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := post(t, srv.url("encrypt-data"), `{}`).WithContext(ctx)

	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if resp.StatusCode != 500 || srv.hits.Load() != 1 || len(clk.waits()) != 0 {
		t.Errorf("status %d hits %d waits %v; want 500, 1, none",
			resp.StatusCode, srv.hits.Load(), clk.waits())
	}
}

func TestCancelEndsWaitAtOnce(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500))
	tr := New(nil, WithPolicy(Retryable, Policy{Backoff: constant(time.Hour),
		MaxElapsed: 2 * time.Hour}))

	ctx, cancel := context.WithCancel(context.Background())
	req := post(t, srv.url("encrypt-data"), `{}`).WithContext(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)

	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("RoundTrip took %v after cancel", d)
	}
	if resp.StatusCode != 500 || srv.hits.Load() != 1 {
		t.Errorf("status %d hits %d, want the first 500", resp.StatusCode, srv.hits.Load())
	}
}

func TestMetricsOfOneRequest(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500), answer{status: 429, code: "APIGW.0308",
		flat: true, header: map[string]string{"Retry-After": "2"}}, kms("KMS.9999", 503), ok())
	m := metricsForTest(t)
	clk := newFakeClock()
	tr := New(nil, WithClock(clk), WithMetrics(m))

	resp, err := tr.RoundTrip(post(t, srv.url("encrypt-data"), `{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	counters := []struct {
		vec    *prometheus.CounterVec
		labels []string
		want   float64
	}{
		{m.errors, []string{"encrypt-data", "KMS.0101", "retryable"}, 1},
		{m.errors, []string{"encrypt-data", "APIGW.0308", "throttled"}, 1},
		{m.errors, []string{"encrypt-data", "unknown", "retryable"}, 1},
		{m.retries, []string{"encrypt-data", "KMS.0101", "retryable"}, 1},
		{m.retries, []string{"encrypt-data", "APIGW.0308", "throttled"}, 1},
		{m.retries, []string{"encrypt-data", "unknown", "retryable"}, 1},
		{m.requests, []string{"encrypt-data", "success", "none"}, 1},
	}
	for _, c := range counters {
		if got := counterValue(t, c.vec, c.labels...); got != c.want {
			t.Errorf("%v = %v, want %v", c.labels, got, c.want)
		}
	}

	text := gatherText(t, m)
	for _, line := range []string{
		`kmsretry_attempts_per_request_sum{action="encrypt-data"} 4`,
		`kmsretry_backoff_seconds_sum{class="throttled"} 2`,
		`kmsretry_backoff_seconds_count{class="retryable"} 2`,
		`kmsretry_request_duration_seconds_count{action="encrypt-data",outcome="success"} 1`,
		`kmsretry_retry_budget_tokens 500`, // the 3 retries, 15 tokens, were given back
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
	runtime.KeepAlive(tr) // the gauges follow live transports only
}

func TestConcurrentUse(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0101", 500), ok(), kms("KMS.0102", 500), ok())
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	m := metricsForTest(t)
	tr := New(base, WithMetrics(m), WithRetryBudget(RetryBudget{Off: true}),
		WithPolicy(Retryable, Policy{Backoff: constant(time.Microsecond)}))
	client := &http.Client{Transport: tr}

	const n = 400
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := `{"n":` + strconv.Itoa(i) + `}`
			resp, err := client.Do(post(t, srv.url("decrypt-data"), body))
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	close(errs)

	for err := range errs {
		t.Error(err)
	}
	hits := srv.hits.Load()
	retries := counterValue(t, m.retries, "decrypt-data", "KMS.0101", "retryable") +
		counterValue(t, m.retries, "decrypt-data", "KMS.0102", "retryable")
	if float64(hits) != n+retries || retries != 2 {
		t.Errorf("hits %d, retries %v; want hits = %d + retries, retries 2", hits, retries, n)
	}
}
