package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runDemo runs the demo in-process with args and returns its exit status and output.
func runDemo(t *testing.T, args ...string) (int, string, string) {
	t.Helper()

	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDemoRoundTripsEveryRecord(t *testing.T) {
	code, out, errOut := runDemo(t, "-records", "200", "-concurrency", "8")
	if code != 0 {
		t.Fatalf("exit status %d, want 0; stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}

	wants := []string{
		"all 200 records round-tripped",
		"tour: every answer was handled as its class says",
		`Summary, read from the Prometheus registry (phase="workload")`,
		"success 801, error 0, failed 0",
		"tokens expired 2x",
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestDemoTourCoversTheCatalogue(t *testing.T) {
	code, out, _ := runDemo(t, "-records", "1")
	if code != 0 {
		t.Fatalf("exit status %d, want 0; output:\n%s", code, out)
	}

	entries := kmsretry.Entries()
	if len(entries) != 101 {
		t.Errorf("the catalogue holds %d codes, want 101", len(entries))
	}
	for _, e := range entries {
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(e.Code) + `\s+` +
			strconv.Itoa(e.Status) + `\s+` + e.Class.String() + `\s+\d\s+\S`)
		if !row.MatchString(out) {
			t.Errorf("the tour has no row for %s (%d, %s)", e.Code, e.Status, e.Class)
		}
	}

	latched := regexp.MustCompile(
		`(?m)^  same project\s+0\s+refused, not sent\s+ErrBillingLatched$`)
	if !latched.MatchString(out) {
		t.Error("the tour does not show a request refused by the billing latch")
	}
	if !strings.Contains(out, "ErrOutcomeUnknown (1 key created)") {
		t.Error("the tour does not show a create-key left with an unknown outcome")
	}

	for _, code := range []string{"KMS.2601", "KMS.2605"} {
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(code) +
			`\s+400\s+auth-refresh\s+2\s+refreshed import token, retried 1x\s+200 OK$`)
		if !row.MatchString(out) {
			t.Errorf("the tour does not show %s mended by a new import token", code)
		}
	}
}

func TestDemoOutageEmptiesTheBudget(t *testing.T) {
	code, out, _ := runDemo(t, "-records", "1")
	if code != 0 {
		t.Fatalf("exit status %d, want 0; output:\n%s", code, out)
	}

	// The default budget holds 500 tokens and a retry takes 5: 33 requests get their 3
	// retries, the 34th one of them, and every later request has its first retry refused.
	wants := []string{
		`(?m)^1-50\s+3\.00\s+17$`,
		`(?m)^251-300\s+1\.00\s+50$`,
		`outage: 33 requests sent 4 times, then the budget ran dry; it refused 267 retries`,
	}
	for _, want := range wants {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output does not match %s", want)
		}
	}
}

func TestDemoCredentials(t *testing.T) {
	srv := kmstest.NewServer()
	defer srv.Close()
	c := newCredentials(srv)

	apply := func(body string) string {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		if err := c.Apply(req); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("X-Auth-Token") == "" {
			t.Error("Apply set no X-Auth-Token")
		}
		got, _ := io.ReadAll(req.Body)
		again, _ := req.GetBody()
		if replay, _ := io.ReadAll(again); string(replay) != string(got) ||
			req.ContentLength != int64(len(got)) {
			t.Errorf("GetBody gives %q, ContentLength %d, for a body %q",
				replay, req.ContentLength, got)
		}
		return string(got)
	}

	if got := apply(`{"plain_text":"import_token"}`); got != `{"plain_text":"import_token"}` {
		t.Errorf("a body with no import token became %s", got)
	}
	if got := apply(`{"import_token":"old","key_id":"k"}`); got !=
		`{"import_token":"import-token-1","key_id":"k"}` {
		t.Errorf("the import token was not replaced: %s", got)
	}

	renewals := []struct {
		code            string
		imports, tokens int64
	}{
		{"KMS.2605", 2, 0}, // a new import token, and the IAM token kept
		{"KMS.0303", 2, 1},
	}
	for _, r := range renewals {
		err := c.Refresh(t.Context(), r.code)
		if err != nil || c.imports.Load() != r.imports || c.tokens.Load() != r.tokens {
			t.Errorf("after %s: err %v, imports %d, tokens %d, want nil, %d, %d",
				r.code, err, c.imports.Load(), c.tokens.Load(), r.imports, r.tokens)
		}
	}
	renewed := `{"import_token":"import-token-2"}`
	if got := apply(`{"import_token":"import-token-1"}`); got != renewed {
		t.Errorf("the renewed import token was not applied: %s", got)
	}
}

func TestDemoSummaryReadsTheRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	work := prometheus.WrapRegistererWith(prometheus.Labels{"phase": phaseWorkload}, reg)
	tour := prometheus.WrapRegistererWith(prometheus.Labels{"phase": phaseTour}, reg)

	// Counters of the transport's names with made-up values, in both phases: the summary
	// must show the workload's and nothing of the tour's.
	for _, r := range []struct {
		reg prometheus.Registerer
		n   float64
	}{{work, 7}, {tour, 1000}} {
		errs := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_error_responses_total", Help: "h"}, []string{"action", "code", "class"})
		errs.WithLabelValues("encrypt-data", "KMS.0102", "retryable").Add(r.n)
		errs.WithLabelValues("decrypt-data", "KMS.0102", "retryable").Add(r.n)
		r.reg.MustRegister(errs)
	}
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kmsretry_retries_total", Help: "h"}, []string{"action", "code", "class"})
	retries.WithLabelValues("encrypt-data", "APIGW.0308", "throttled").Add(3)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kmsretry_requests_total", Help: "h"}, []string{"action", "outcome", "class"})
	requests.WithLabelValues("encrypt-data", "success", "none").Add(11)
	attempts := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kmsretry_attempts_per_request", Help: "h"}, []string{"action"})
	for _, n := range []float64{1, 2, 3} {
		attempts.WithLabelValues("encrypt-data").Observe(n)
	}
	work.MustRegister(retries, requests, attempts)

	var out bytes.Buffer
	if err := printSummary(&out, reg, workloadResult{}); err != nil {
		t.Fatal(err)
	}

	wants := []string{
		`(?m)^KMS\.0102\s+retryable\s+14$`,
		`(?m)^retryable\s+14\s+0$`,
		`(?m)^throttled\s+0\s+3$`,
		`success 11, error 0`,
		`2\.000 on average \(6 sends for 3 requests\)`,
	}
	for _, want := range wants {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("summary does not match %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "2000") {
		t.Errorf("summary shows the tour's counts:\n%s", out.String())
	}
}

func TestDemoServesMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-listen", "127.0.0.1:0", "-records", "50", "-quiet"}, out,
			io.Discard)
	}()

	addr := out.await(t, regexp.MustCompile(`serving /metrics on (http://\S+)`))
	out.await(t, regexp.MustCompile(`still serving /metrics`))

	// The budget's gauge follows live transports only: a collection must not empty it.
	runtime.GC()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	for _, want := range []string{`kmsretry_requests_total{`, `phase="workload"`,
		`phase="tour"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	tokens := regexp.MustCompile(`kmsretry_retry_budget_tokens\{phase="workload"\} (\d+)`)
	if m := tokens.FindSubmatch(body); m == nil || string(m[1]) == "0" {
		t.Errorf("/metrics shows no retry budget left for the workload: %q", m)
	}

	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit status %d, want 0", c)
	}
}

func TestDemoFailsWhenRecordsAreLost(t *testing.T) {
	// At 90% faults the retry budget runs dry and requests give up.
	code, out, errOut := runDemo(t, "-records", "30", "-fault-rate", "0.9", "-quiet")
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(out, "FAILED: ") || !strings.Contains(errOut, "did not round-trip") {
		t.Errorf("no failure reported; stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestDemoFlags(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "-fault-rate"},
		{[]string{"-fault-rate", "1"}, 2, "outside [0, 0.9]"},
		{[]string{"-records", "0"}, 2, "at least 1"},
		{[]string{"-concurrency", "0"}, 2, "at least 1"},
		{[]string{"extra"}, 2, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runDemo(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
		})
	}
}

func TestDemoAttemptsFor(t *testing.T) {
	tests := []struct {
		p           float64
		calls, want int
	}{
		{0.2, 8000, 10}, // 8000·0.2¹⁰ ≈ 0.0008 ≤ 0.001 < 8000·0.2⁹ ≈ 0.004
		{0.2, 800, 9},
		{0.01, 8000, 4}, // floor: the default
		{0, 8000, 4},
		{0.9, 8000, 30}, // ceiling
	}
	for _, tt := range tests {
		if got := attemptsFor(tt.p, tt.calls, 4); got != tt.want {
			t.Errorf("attemptsFor(%v, %d, 4) = %d, want %d", tt.p, tt.calls, got, tt.want)
		}
	}
}

// syncBuffer is an output that a test may read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// await waits until the output matches re and returns the first submatch, if any.
func (b *syncBuffer) await(t *testing.T, re *regexp.Regexp) string {
	t.Helper()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		m := re.FindStringSubmatch(b.buf.String())
		b.mu.Unlock()
		if m != nil {
			return m[len(m)-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("output never matched %s", re)
	return ""
}
