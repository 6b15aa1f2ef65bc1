package kmsretry

import (
	"fmt"
	"strconv"
	"sync"

	"time"
	"weak"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus collectors of one or more [Transport]s. Make it
// with [NewMetrics] and hand it to each transport with [WithMetrics]. Every
// label takes values from fixed sets: actions from the known KMS actions or
// "other", codes from the catalogue or "unknown"/"none"/"network", classes
// from [Class.String], so no server answer can create unbounded series.
type Metrics struct {
	requests   *prometheus.CounterVec   // action, outcome, class
	errors     *prometheus.CounterVec   // action, code, class
	retries    *prometheus.CounterVec   // action, code, class
	netErrors  *prometheus.CounterVec   // action, kind
	attempts   *prometheus.HistogramVec // action
	backoff    *prometheus.HistogramVec // class
	refreshes  *prometheus.CounterVec   // result
	duration   *prometheus.HistogramVec // action, outcome
	exhausted  *prometheus.CounterVec   // action
	latchBlock *prometheus.CounterVec   // action

	// success holds, per action, the series every successful request
	// touches, so that the common path does no label lookup.
	success sync.Map // action -> *successSeries

	mu      sync.Mutex
	latches []weak.Pointer[billingLatch]
	buckets []weak.Pointer[bucket]
}

type successSeries struct {
	requests prometheus.Counter
	attempts prometheus.Observer
	duration prometheus.Observer
}

// Outcomes of a logical request, the values of the outcome label.
const (
	outcomeSuccess  = "success"  // final answer below 400
	outcomeError    = "error"    // final answer 400 or above
	outcomeFailed   = "failed"   // no answer: network failure or cancellation
	outcomeRejected = "rejected" // not sent: billing latch
)

// NewMetrics creates the collectors and registers them with reg; nothing is
// registered anywhere else. It fails if reg already holds collectors of the
// same names: share one Metrics between transports instead of making two.
//
// The collectors, all prefixed kmsretry_:
//
//	requests_total{action,outcome,class}          logical requests by final outcome
//	error_responses_total{action,code,class}      every error answer, per attempt
//	retries_total{action,code,class}              resends, by what caused them
//	transport_errors_total{action,kind}           network failures, per attempt
//	attempts_per_request{action}                  histogram of sends per request
//	backoff_seconds{class}                        histogram of waits before resends
//	refreshes_total{result}                       credential refreshes run
//	request_duration_seconds{action,outcome}      histogram, retries included
//	retry_budget_exhausted_total{action}          retries refused by the budget
//	retry_budget_tokens                           tokens left in all budgets
//	billing_latch_rejections_total{action}        requests refused by the latch
//	billing_latched_projects                      project ids latched now
//	code_info{code,class,status,message,remedy}   1 per catalogue code, for joins
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_requests_total",
			Help: "Logical KMS requests by final outcome and class of the last answer.",
		}, []string{"action", "outcome", "class"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_error_responses_total",
			Help: "KMS error answers received, one per attempt, by code and class.",
		}, []string{"action", "code", "class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_retries_total",
			Help: "Requests sent again, by the code and class that caused the retry.",
		}, []string{"action", "code", "class"}),
		netErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_transport_errors_total",
			Help: "Attempts that got no answer, by kind of network failure.",
		}, []string{"action", "kind"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kmsretry_attempts_per_request",
			Help:    "How many times each logical request was sent.",
			Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10},
		}, []string{"action"}),
		backoff: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kmsretry_backoff_seconds",
			Help:    "Time waited before each retry.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"class"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_refreshes_total",
			Help: "Credential refreshes run, by result.",
		}, []string{"result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kmsretry_request_duration_seconds",
			Help:    "Duration of logical KMS requests, retries and waits included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"action", "outcome"}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_retry_budget_exhausted_total",
			Help: "Retries not made because the retry budget was empty.",
		}, []string{"action"}),
		latchBlock: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsretry_billing_latch_rejections_total",
			Help: "Requests refused unsent because their project is frozen for billing.",
		}, []string{"action"}),
	}

	cs := []prometheus.Collector{m.requests, m.errors, m.retries, m.netErrors, m.attempts,
		m.backoff, m.refreshes, m.duration, m.exhausted, m.latchBlock, liveGauges{m},
		codeInfo()}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done) // leave the registry as it was
			}
			return nil, fmt.Errorf("kmsretry: registering metrics: %w; "+
				"share one Metrics between transports", err)
		}
	}
	m.initSeries()
	return m, nil
}

// codeInfo returns an info gauge with one series per catalogue entry, so that
// dashboards can show a code's class and meaning next to its rate.
func codeInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kmsretry_code_info",
		Help: "Constant 1 for every documented KMS and gateway code, with its meaning and remedy.",
	}, []string{"code", "class", "status", "message", "remedy"})
	for _, e := range catalogEntries {
		g.WithLabelValues(e.Code, e.Class.String(), strconv.Itoa(e.Status), e.Message,
			e.Remedy).Set(1)
	}
	return g
}

// initSeries creates the series that alerts compare against, at zero, so
// that a rate over them exists before the first failure.
func (m *Metrics) initSeries() {
	for _, r := range []string{"success", "failure"} {
		m.refreshes.WithLabelValues(r)
	}
	for _, c := range Classes {
		m.backoff.WithLabelValues(c.String())
	}
}

// watch adds a transport's latch and bucket to the gauges. The metrics keep
// weak pointers, so a transport that is garbage collected is dropped from
// the gauges; keep the transport (or the client holding it) alive for as
// long as its gauges should be scraped.
func (m *Metrics) watch(l *billingLatch, b *bucket) {
	m.mu.Lock()
	defer m.mu.Unlock()

	if l != nil {
		m.latches = append(m.latches, weak.Make(l))
	}
	if b != nil {
		m.buckets = append(m.buckets, weak.Make(b))
	}
}

var (
	tokensDesc = prometheus.NewDesc("kmsretry_retry_budget_tokens",
		"Tokens left in the retry budgets of the live transports using these metrics.",
		nil, nil)
	latchedDesc = prometheus.NewDesc("kmsretry_billing_latched_projects",
		"Project ids whose requests fail fast after a billing answer.", nil, nil)
)

// liveGauges reports the gauges that sum over live transports. With no live
// transport it reports no sample at all, rather than a zero that would read
// as an empty budget.
type liveGauges struct{ m *Metrics }

// Describe implements prometheus.Collector.
func (g liveGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- tokensDesc
	ch <- latchedDesc
}

// Collect implements prometheus.Collector.
func (g liveGauges) Collect(ch chan<- prometheus.Metric) {
	if n, ok := g.m.tokens(); ok {
		ch <- prometheus.MustNewConstMetric(tokensDesc, prometheus.GaugeValue, n)
	}
	if n, ok := g.m.latched(); ok {
		ch <- prometheus.MustNewConstMetric(latchedDesc, prometheus.GaugeValue, n)
	}
}

// tokens sums the live buckets' levels, forgetting dropped transports.
func (m *Metrics) tokens() (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()

	var sum int64
	m.buckets = live(m.buckets, func(b *bucket) { sum += b.tokens.Load() })
	return float64(sum), len(m.buckets) > 0
}

// latched sums the live latches' counts, forgetting dropped transports.
func (m *Metrics) latched() (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()

	sum := 0
	m.latches = live(m.latches, func(l *billingLatch) { sum += l.count() })
	return float64(sum), len(m.latches) > 0
}

// live calls f on every pointer still alive and returns those alone.
func live[T any](ps []weak.Pointer[T], f func(*T)) []weak.Pointer[T] {
	kept := ps[:0]
	for _, w := range ps {
		if v := w.Value(); v != nil {
			f(v)
			kept = append(kept, w)
		}
	}
	clear(ps[len(kept):])
	return kept
}

// succeeded records a request that ended with an answer below 400.
func (m *Metrics) succeeded(action string, attempts int, d time.Duration) {
	if m == nil {
		return
	}

	s := m.successFor(action)
	s.requests.Inc()
	s.attempts.Observe(float64(attempts))
	s.duration.Observe(d.Seconds())
}

func (m *Metrics) successFor(action string) *successSeries {
	if v, ok := m.success.Load(action); ok {
		return v.(*successSeries)
	}

	s := &successSeries{
		requests: m.requests.WithLabelValues(action, outcomeSuccess, "none"),
		attempts: m.attempts.WithLabelValues(action),
		duration: m.duration.WithLabelValues(action, outcomeSuccess),
	}
	v, _ := m.success.LoadOrStore(action, s)
	return v.(*successSeries)
}

// finished records a request that did not succeed.
func (m *Metrics) finished(action, outcome string, c Class, attempts int, d time.Duration) {
	if m == nil {
		return
	}

	class := c.String()
	if c == Unknown {
		class = "none"
	}
	m.requests.WithLabelValues(action, outcome, class).Inc()
	if attempts > 0 {
		m.attempts.WithLabelValues(action).Observe(float64(attempts))
	}
	m.duration.WithLabelValues(action, outcome).Observe(d.Seconds())
}

// answered records one error answer.
func (m *Metrics) answered(action, code string, c Class) {
	if m != nil {
		m.errors.WithLabelValues(action, metricCode(code), c.String()).Inc()
	}
}

// failedSend records one attempt that got no answer.
func (m *Metrics) failedSend(action string, f failure) {
	if m != nil {
		m.netErrors.WithLabelValues(action, kindLabels[f]).Inc()
	}
}

// retried records one resend and the wait before it. code is "network" for
// a resend after a network failure.
func (m *Metrics) retried(action, code string, c Class, wait time.Duration) {
	if m == nil {
		return
	}

	if code != "network" {
		code = metricCode(code)
	}
	m.retries.WithLabelValues(action, code, c.String()).Inc()
	m.backoff.WithLabelValues(c.String()).Observe(wait.Seconds())
}

// refreshed records one credential refresh.
func (m *Metrics) refreshed(err error) {
	if m == nil {
		return
	}

	result := "success"
	if err != nil {
		result = "failure"
	}
	m.refreshes.WithLabelValues(result).Inc()
}

// budgetEmpty records a retry refused by the retry budget.
func (m *Metrics) budgetEmpty(action string) {
	if m != nil {
		m.exhausted.WithLabelValues(action).Inc()
	}
}

// latchRejected records a request refused by the billing latch.
func (m *Metrics) latchRejected(action string) {
	if m != nil {
		m.latchBlock.WithLabelValues(action).Inc()
	}
}
