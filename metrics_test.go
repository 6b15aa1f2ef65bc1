package kmsretry

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newTestMetrics returns Metrics registered on a registry of their own.
func newTestMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()

	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	return m, reg
}

// gaugeValue gathers reg and returns the value of the unlabelled gauge name.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

// latchClock is a Clock on a fakeNow; Sleep only moves the time on.
type latchClock struct{ *fakeNow }

func (c latchClock) Now() time.Time { return c.now() }

func (c latchClock) Sleep(ctx context.Context, d time.Duration) error {
	c.advance(d)
	return ctx.Err()
}

func TestNewMetrics(t *testing.T) {
	m, reg := newTestMetrics(t)
	if m == nil {
		t.Fatal("NewMetrics returned nil Metrics")
	}

	tests := []struct {
		name string
		want int
	}{
		{"kmsretry_code_info", 101},
		{"kmsretry_backoff_seconds", len(Classes)},
		{"kmsretry_refreshes_total", 2},
		{"kmsretry_retry_budget_tokens", 0}, // no transport yet: no sample
		{"kmsretry_billing_latched_projects", 0},
		{"kmsretry_requests_total", 0},
		{"kmsretry_error_responses_total", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := testutil.GatherAndCount(reg, tt.name)
			if err != nil || n != tt.want {
				t.Errorf("%s has %d series (%v), want %d", tt.name, n, err, tt.want)
			}
		})
	}

	t.Run("a transport brings the gauges", func(t *testing.T) {
		tr := New(nil, WithMetrics(m))
		if v := gaugeValue(t, reg, "kmsretry_retry_budget_tokens"); v != 500 {
			t.Errorf("tokens = %v with one transport, want 500", v)
		}
		if v := gaugeValue(t, reg, "kmsretry_billing_latched_projects"); v != 0 {
			t.Errorf("latched = %v with one transport, want 0", v)
		}
		runtime.KeepAlive(tr)
	})
}

func TestNewMetricsTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}

	m, err := NewMetrics(reg)
	if err == nil || m != nil {
		t.Fatalf("second NewMetrics = %v, %v; want an error", m, err)
	}
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Errorf("error %v does not wrap prometheus.AlreadyRegisteredError", err)
	}
	if !strings.HasPrefix(err.Error(), "kmsretry: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}

	t.Run("other registries unaffected", func(t *testing.T) {
		if _, err := NewMetrics(prometheus.NewRegistry()); err != nil {
			t.Errorf("NewMetrics on a fresh registry: %v", err)
		}
	})
}

// TestNewMetricsFailureRegistersNothing checks that a NewMetrics that fails
// leaves reg as it found it, with none of its collectors half registered.
func TestNewMetricsFailureRegistersNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	clash := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kmsretry_code_info", // registered last by NewMetrics
		Help: "Someone else's metric of the same name.",
	})
	reg.MustRegister(clash)

	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("NewMetrics succeeded despite a clashing collector")
	}

	// These series exist from the start in a registered Metrics.
	n, err := testutil.GatherAndCount(reg, "kmsretry_retry_budget_tokens",
		"kmsretry_billing_latched_projects", "kmsretry_backoff_seconds",
		"kmsretry_refreshes_total")
	if err != nil || n != 0 {
		t.Errorf("failed NewMetrics left %d series registered (%v)", n, err)
	}
	if !reg.Unregister(clash) {
		t.Error("the clashing collector is gone")
	}
}

func TestMetricsCodeInfo(t *testing.T) {
	c := codeInfo()
	if n := testutil.CollectAndCount(c, "kmsretry_code_info"); n != len(catalogEntries) ||
		n != 101 {
		t.Fatalf("code_info has %d series, want 101", n)
	}

	g := c.(*prometheus.GaugeVec)
	tests := []struct {
		code, class, status string
	}{
		{"KMS.0207", "fatal", "404"},
		{"KMS.0101", "retryable", "500"},
		{"KMS.0320", "billing", "400"},
		{"KMS.0301", "auth-refresh", "403"},
		{"APIGW.0308", "throttled", "429"},
		{"APIGW.0201", "retryable", "502"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			e, _ := Lookup(tt.code)
			v := testutil.ToFloat64(g.WithLabelValues(tt.code, tt.class, tt.status, e.Message,
				e.Remedy))
			if v != 1 {
				t.Errorf("code_info{%s,%s,%s} = %v, want 1", tt.code, tt.class, tt.status, v)
			}
		})
	}
}

func TestMetricsSuccessSeries(t *testing.T) {
	m, _ := newTestMetrics(t)

	s1 := m.successFor("encrypt-data")
	if s2 := m.successFor("encrypt-data"); s1 != s2 {
		t.Error("successFor built a second series set for the same action")
	}
	if s3 := m.successFor("decrypt-data"); s3 == s1 {
		t.Error("successFor shares series between actions")
	}

	for range 3 {
		m.succeeded("encrypt-data", 1, 20*time.Millisecond)
	}
	m.succeeded("encrypt-data", 3, time.Second)

	tests := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"requests", m.requests.WithLabelValues("encrypt-data", "success", "none"), 4},
		{"decrypt requests", m.requests.WithLabelValues("decrypt-data", "success", "none"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testutil.ToFloat64(tt.c); got != tt.want {
				t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
			}
		})
	}

	// One series per action touched: encrypt-data and decrypt-data.
	if n := testutil.CollectAndCount(m.requests); n != 2 {
		t.Errorf("requests_total has %d series, want 2", n)
	}
	if n := testutil.CollectAndCount(m.attempts); n != 2 {
		t.Errorf("attempts_per_request has %d series, want 2", n)
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("request_duration_seconds has %d series, want 2", n)
	}
}

func TestMetricsLabelsBounded(t *testing.T) {
	m, _ := newTestMetrics(t)

	for i := range 10000 {
		code := fmt.Sprintf("KMS.X%05d", i)
		m.answered("decrypt-data", code, Fatal)
		m.retried("decrypt-data", code, Retryable, 10*time.Millisecond)
	}

	tests := []struct {
		name   string
		vec    prometheus.Collector
		series int
		one    prometheus.Collector
		want   float64
	}{
		{"errors", m.errors, 1,
			m.errors.WithLabelValues("decrypt-data", "unknown", "fatal"), 10000},
		{"retries", m.retries, 1,
			m.retries.WithLabelValues("decrypt-data", "unknown", "retryable"), 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testutil.CollectAndCount(tt.vec); n != tt.series {
				t.Errorf("%d series, want %d", n, tt.series)
			}
			if got := testutil.ToFloat64(tt.one); got != tt.want {
				t.Errorf("count = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("codes and spellings", func(t *testing.T) {
		m, _ := newTestMetrics(t)
		m.answered("sign", "APIG.0308", Throttled)
		m.answered("sign", "APIGW.0308", Throttled)
		m.answered("sign", "", Retryable)
		m.retried("sign", "network", Retryable, 0)

		checks := []struct {
			c    prometheus.Collector
			want float64
		}{
			{m.errors.WithLabelValues("sign", "APIGW.0308", "throttled"), 2},
			{m.errors.WithLabelValues("sign", "none", "retryable"), 1},
			{m.retries.WithLabelValues("sign", "network", "retryable"), 1},
		}
		for i, c := range checks {
			if got := testutil.ToFloat64(c.c); got != c.want {
				t.Errorf("check %d: %v, want %v", i, got, c.want)
			}
		}
	})
}

func TestMetricsNilSafe(t *testing.T) {
	var m *Metrics
	m.succeeded("encrypt-data", 1, time.Second)
	m.finished("encrypt-data", outcomeError, Fatal, 1, time.Second)
	m.answered("encrypt-data", "KMS.0207", Fatal)
	m.failedSend("encrypt-data", failAmbiguous)
	m.retried("encrypt-data", "KMS.0101", Retryable, time.Second)
	m.refreshed(nil)
	m.budgetEmpty("encrypt-data")
	m.latchRejected("encrypt-data")
}

func TestMetricsGauges(t *testing.T) {
	m, reg := newTestMetrics(t)
	clk := latchClock{newFakeNow()}

	t1 := New(nil, WithMetrics(m), WithClock(clk))
	t2 := New(nil, WithMetrics(m), WithClock(clk), WithRetryBudget(RetryBudget{Capacity: 50}))
	t3 := New(nil, WithMetrics(m), WithClock(clk), WithRetryBudget(RetryBudget{Off: true}),
		WithBillingCooldown(-1))

	steps := []struct {
		name        string
		do          func()
		tokens      float64
		latchedProj float64
	}{
		{"fresh", func() {}, 550, 0},
		{"take", func() { t1.budget.take(5); t2.budget.take(10) }, 535, 0},
		{"reward", func() { t1.budget.succeeded(0); t1.budget.succeeded(0) }, 537, 0},
		{"engage", func() {
			t1.latch.engage("p1")
			t2.latch.engage("p1")
			t2.latch.engage("p2")
		}, 537, 3},
		{"half the cool-down", func() { clk.advance(DefaultBillingCooldown / 2) }, 537, 3},
		{"expire", func() { clk.advance(DefaultBillingCooldown / 2) }, 537, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			if v := gaugeValue(t, reg, "kmsretry_retry_budget_tokens"); v != s.tokens {
				t.Errorf("tokens = %v, want %v", v, s.tokens)
			}
			if v := gaugeValue(t, reg, "kmsretry_billing_latched_projects"); v != s.latchedProj {
				t.Errorf("latched projects = %v, want %v", v, s.latchedProj)
			}
		})
	}
	runtime.KeepAlive(t1)
	runtime.KeepAlive(t2)
	runtime.KeepAlive(t3)
}

// dropTransports makes n transports on m and lets them go.
func dropTransports(m *Metrics, n int) {
	for range n {
		tr := New(nil, WithMetrics(m))
		tr.latch.engage("dropped")
	}
}

// gcUntil runs the garbage collector until cond holds, at most 10 times.
func gcUntil(cond func() bool) bool {
	for range 10 {
		runtime.GC()
		if cond() {
			return true
		}
	}
	return false
}

// TestMetricsGaugesForgetDroppedTransports checks that a transport nobody
// holds any more leaves the gauges.
func TestMetricsGaugesForgetDroppedTransports(t *testing.T) {
	m, reg := newTestMetrics(t)
	live := New(nil, WithMetrics(m))
	dropTransports(m, 100)

	tokens := func() float64 { n, _ := m.tokens(); return n }
	if !gcUntil(func() bool { return tokens() == 500 }) {
		t.Fatalf("tokens = %v after GC, want the live transport's 500", tokens())
	}
	if v := gaugeValue(t, reg, "kmsretry_billing_latched_projects"); v != 0 {
		t.Errorf("latched projects = %v from dropped transports", v)
	}
	runtime.KeepAlive(live)
}

// TestMetricsPrunesDeadTransports checks that the list of watched
// transports does not grow without bound in a program that makes a
// transport per task: once a scrape sees a transport gone, it is forgotten.
func TestMetricsPrunesDeadTransports(t *testing.T) {
	m, reg := newTestMetrics(t)
	live := New(nil, WithMetrics(m))
	dropTransports(m, 1000)

	tokens := func() float64 { n, _ := m.tokens(); return n }
	if !gcUntil(func() bool { return tokens() == 500 }) {
		t.Fatalf("tokens = %v after GC, want 500", tokens())
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}

	m.mu.Lock()
	buckets, latches := len(m.buckets), len(m.latches)
	m.mu.Unlock()
	if buckets != 1 || latches != 1 {
		t.Errorf("after a scrape Metrics still holds %d buckets and %d latches "+
			"for 1 live transport", buckets, latches)
	}
	runtime.KeepAlive(live)
}

// TestMetricsGaugesAbsentWithoutTransports checks that with no live
// transport the summed gauges report no sample, not a misleading zero.
func TestMetricsGaugesAbsentWithoutTransports(t *testing.T) {
	m, reg := newTestMetrics(t)
	dropTransports(m, 10)

	gone := func() bool { _, ok := m.tokens(); return !ok }
	if !gcUntil(gone) {
		t.Fatal("dropped transports still counted")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "kmsretry_retry_budget_tokens", "kmsretry_billing_latched_projects":
			t.Errorf("%s reported with no live transport", f.GetName())
		}
	}
}
