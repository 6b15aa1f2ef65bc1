package kmsretry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNetworkFailuresByAction(t *testing.T) {
	tests := []struct {
		name    string
		action  string
		hits    int64
		status  int
		unknown bool
	}{
		{"safe action resent after a drop", "encrypt-data", 2, 200, false},
		{"create-key not resent", "create-key", 1, 0, true},
		{"create-grant not resent", "create-grant", 1, 0, true},
		{"converging action not resent", "schedule-key-deletion", 1, 0, true},
		{"unknown action not resent", "frobnicate", 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, answer{drop: true}, ok())
			tr := New(nil, WithClock(newFakeClock()))

			resp, err := tr.RoundTrip(post(t, srv.url(tt.action), `{}`))
			if srv.hits.Load() != tt.hits {
				t.Errorf("hits = %d, want %d", srv.hits.Load(), tt.hits)
			}
			if tt.unknown {
				var e *Error
				if !errors.Is(err, ErrOutcomeUnknown) || !errors.As(err, &e) || e.Attempts != 1 {
					t.Fatalf("err = %v, want ErrOutcomeUnknown after 1 attempt", err)
				}
				if e.Action != tt.action && tt.action != "frobnicate" {
					t.Errorf("action = %q", e.Action)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestNothingSentIsResentForEveryAction(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every dial is refused

	clk := newFakeClock()
	tr := New(nil, WithClock(clk))
	_, err = tr.RoundTrip(post(t, "http://"+addr+"/v1.0/p/kms/create-key", `{}`))

	var e *Error
	if !errors.As(err, &e) || e.Attempts != 4 || !errors.Is(err, ErrRetryable) {
		t.Fatalf("err = %v, want *Error after 4 attempts wrapping ErrRetryable", err)
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("a refused dial sent nothing, yet the outcome is called unknown")
	}
	if strings.Contains(err.Error(), "/v1.0/") {
		t.Errorf("error names the URL's path: %v", err)
	}
}

func TestTLSFailureNotRetried(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	tr := New(&http.Transport{}, WithClock(newFakeClock()))
	defer tr.CloseIdleConnections()
	_, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/encrypt-data", `{}`))

	var e *Error
	if !errors.As(err, &e) || e.Attempts != 1 || e.Class != Unknown {
		t.Fatalf("err = %v, want one attempt of class unknown", err)
	}
}

func TestAttemptTimeoutIsAmbiguous(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.Write([]byte(`{"plain_text":"ok"}`))
	}))
	defer srv.Close()

	for _, tc := range []struct {
		action string
		hits   int64
	}{{"decrypt-data", 2}, {"create-key", 1}} {
		hits.Store(0)
		tr := New(nil, WithClock(newFakeClock()),
			WithPolicy(Retryable, Policy{AttemptTimeout: 50 * time.Millisecond}))

		resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/"+tc.action, `{}`))
		if hits.Load() != tc.hits {
			t.Errorf("%s: hits = %d, want %d", tc.action, hits.Load(), tc.hits)
		}
		if tc.hits == 1 {
			if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: err = %v, want outcome unknown after a timeout", tc.action, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.action, err)
		}

		// The body outlives RoundTrip even though each send had a deadline.
		time.Sleep(80 * time.Millisecond)
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil || buf.String() != `{"plain_text":"ok"}` {
			t.Errorf("%s: body %q err %v", tc.action, buf.String(), err)
		}
	}
}

func TestRetryBudget(t *testing.T) {
	tests := []struct {
		name   string
		budget RetryBudget
		sends  int64
	}{
		// 20 requests in a total outage. With no budget each is sent 4 times.
		{"off", RetryBudget{Off: true}, 80},
		// 20 tokens pay for 4 retries at 5 each: 20 first sends + 4 retries
		// (3 for the first request, 1 for the second).
		{"small", RetryBudget{Capacity: 20}, 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, kms("KMS.0101", 500))
			m := metricsForTest(t)
			tr := New(nil, WithClock(newFakeClock()), WithRetryBudget(tt.budget), WithMetrics(m))

			for range 20 {
				resp, err := tr.RoundTrip(post(t, srv.url("encrypt-data"), `{}`))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}

			if srv.hits.Load() != tt.sends {
				t.Errorf("sends = %d, want %d", srv.hits.Load(), tt.sends)
			}
			want := 0.0
			if !tt.budget.Off {
				want = 19 // every request but the first found the bucket empty once
			}
			if got := counterValue(t, m.exhausted, "encrypt-data"); got != want {
				t.Errorf("budget exhausted = %v, want %v", got, want)
			}
		})
	}
}

func TestBillingLatchFailsFast(t *testing.T) {
	srv := newKMSServer(t, kms("KMS.0328", 403), ok())
	clk := newFakeClock()
	m := metricsForTest(t)
	var reasons []string
	tr := New(nil, WithClock(clk), WithBillingCooldown(time.Minute), WithMetrics(m),
		WithHook(func(e Event) { reasons = append(reasons, e.Kind.String()+": "+e.Reason) }))

	resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/frozen/kms/encrypt-data", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	body := &countingBody{Reader: strings.NewReader(`{}`)}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/frozen/kms/encrypt-data", body)
	_, err = tr.RoundTrip(req)
	if !errors.Is(err, ErrBillingLatched) || !errors.Is(err, ErrBilling) {
		t.Fatalf("err = %v, want ErrBillingLatched", err)
	}
	if body.closes.Load() != 1 || srv.hits.Load() != 1 {
		t.Errorf("latched request: closes %d, hits %d; want 1, 1",
			body.closes.Load(), srv.hits.Load())
	}
	want := []string{"give-up: billing answers are never retried",
		"give-up: refused before sending"}
	if len(reasons) != 2 || reasons[0] != want[0] || reasons[1] != want[1] {
		t.Errorf("hook saw %q, want %q", reasons, want)
	}
	if got := gaugeOf(t, m, "kmsretry_billing_latched_projects"); got != 1 {
		t.Errorf("latched gauge = %v, want 1", got)
	}

	// Other projects are unaffected.
	resp, err = tr.RoundTrip(post(t, srv.URL+"/v1.0/other/kms/encrypt-data", `{}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("other project: %v", err)
	}
	resp.Body.Close()

	// After the cool-down the project is tried again.
	clk.Sleep(context.Background(), time.Minute)
	if got := gaugeOf(t, m, "kmsretry_billing_latched_projects"); got != 0 {
		t.Errorf("latched gauge after cool-down = %v, want 0", got)
	}
	resp, err = tr.RoundTrip(post(t, srv.URL+"/v1.0/frozen/kms/encrypt-data", `{}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after cool-down: %v", err)
	}
	resp.Body.Close()
}

func TestNoSecretsInLogsErrorsOrLabels(t *testing.T) {
	const canary = "CANARY-SECRET-7f3a"
	paths := []answer{
		kms("KMS.0101", 500), kms("KMS.0303", 403), kms("KMS.0320", 400),
		kms("KMS.0207", 404), {status: 429, code: "APIGW.0308", flat: true},
		{drop: true}, {status: 502, body: "<html>" + "</html>"},
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metricsForTest(t)
	var events []Event
	refresher := NewTokenRefresher(canary+"-token", func(context.Context) (string, error) {
		return "", errors.New("refresh refused for token " + canary)
	})

	var errs []string
	for _, a := range paths {
		srv := newKMSServer(t, a)
		tr := New(nil, WithClock(newFakeClock()), WithLogger(logger), WithMetrics(m),
			WithRefresher(refresher, 0), WithHook(func(e Event) { events = append(events, e) }),
			WithBillingCooldown(-1))

		for _, action := range []string{"encrypt-data", "create-key"} {
			req := post(t, srv.URL+"/v1.0/p/kms/"+action+"?sig="+canary, `{"k":"`+canary+`"}`)
			req.Header.Set("Authorization", "SDK-HMAC-SHA256 Access="+canary+", Signature="+canary)
			req.Header.Set("X-Auth-Token", canary)
			client := &http.Client{Transport: tr}
			resp, err := client.Do(req)
			if err != nil {
				// http.Client adds the URL itself; what kmsretry adds must not.
				var e *Error
				if errors.As(err, &e) {
					errs = append(errs, e.Error())
				}
				continue
			}
			if re := ResponseError(resp); re != nil {
				errs = append(errs, re.Error())
			}
			resp.Body.Close()
		}
	}

	if strings.Contains(logs.String(), canary) {
		t.Errorf("log holds the secret:\n%s", logs.String())
	}
	if logs.Len() == 0 || len(events) == 0 || len(errs) == 0 {
		t.Fatalf("nothing was logged (%d bytes, %d events, %d errors)", logs.Len(), len(events),
			len(errs))
	}
	for _, e := range errs {
		if strings.Contains(e, canary) {
			t.Errorf("error holds the secret: %s", e)
		}
	}
	if dump := gatherText(t, m); strings.Contains(dump, canary) {
		t.Errorf("metrics hold the secret")
	}
}

func TestRetryAfterExtremes(t *testing.T) {
	past := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	tests := []struct {
		name     string
		value    string
		deadline time.Duration // 0: none
		hits     int64
		backoff  bool // the wait came from the backoff, the header ignored
	}{
		{"negative", "-3", 0, 2, true},
		{"garbage", "soon", 0, 2, true},
		{"past date", past, 0, 2, true},
		{"huge", "99999999999", 0, 1, false},
		{"longer than the deadline leaves", "5", 2 * time.Second, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, answer{status: 503, body: "busy",
				header: map[string]string{"Retry-After": tt.value}}, ok())
			clk := newFakeClock()
			ctx := context.Background()
			if tt.deadline > 0 {
				clk.now = time.Now()
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			tr := New(nil, WithClock(clk), WithPolicy(Retryable,
				Policy{Backoff: constant(123 * time.Millisecond)}))

			resp, err := tr.RoundTrip(post(t, srv.url("encrypt-data"), `{}`).WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			if srv.hits.Load() != tt.hits {
				t.Errorf("hits = %d, want %d", srv.hits.Load(), tt.hits)
			}
			w := clk.waits()
			if tt.backoff && (len(w) != 1 || w[0] != 123*time.Millisecond) {
				t.Errorf("waits = %v, want the backoff's 123ms", w)
			}
			if !tt.backoff && len(w) != 0 {
				t.Errorf("waits = %v, want none", w)
			}
		})
	}
}

func TestHangingRefreshBoundedByCallerContext(t *testing.T) {
	srv := newTokenServer(t, "fresh")
	r := NewTokenRefresher("expired", func(ctx context.Context) (string, error) {
		<-ctx.Done() // hangs until the refresh timeout
		return "", ctx.Err()
	})
	m := metricsForTest(t)
	tr := New(nil, WithRefresher(r, 300*time.Millisecond), WithMetrics(m))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/encrypt-data", `{}`).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("caller held %v by a hanging refresh", d)
	}
	if resp.StatusCode != 403 {
		t.Errorf("status = %d, want the 403 in hand", resp.StatusCode)
	}

	// The shared refresh ends at its own timeout and is counted as failed.
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(t, m.refreshes, "failure") != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := counterValue(t, m.refreshes, "failure"); got != 1 {
		t.Errorf("refresh failures = %v, want 1", got)
	}
}

func TestRetryBudgetRefundsSuccessfulRetries(t *testing.T) {
	tests := []struct {
		name   string
		script []answer
		tokens float64
	}{
		{"first-try success on a full bucket", []answer{ok()}, 500},
		{"success after two retries gives their 10 back", []answer{kms("KMS.0101", 500),
			kms("KMS.0101", 500), ok()}, 500},
		{"giving up keeps the 15 spent", []answer{kms("KMS.0101", 500)}, 485},
		{"network failures cost 10 each", []answer{{drop: true}}, 470},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newKMSServer(t, tt.script...)
			m := metricsForTest(t)
			tr := New(nil, WithClock(newFakeClock()), WithMetrics(m))

			resp, err := tr.RoundTrip(post(t, srv.url("encrypt-data"), `{}`))
			if err == nil {
				resp.Body.Close()
			}

			if got := gaugeOf(t, m, "kmsretry_retry_budget_tokens"); got != tt.tokens {
				t.Errorf("tokens = %v, want %v", got, tt.tokens)
			}
			runtime.KeepAlive(tr) // the gauges follow live transports only
		})
	}
}
