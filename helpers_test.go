package kmsretry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// fakeClock advances only when the transport sleeps, and records each wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// answer is one scripted reply of a kmsServer.
type answer struct {
	status int
	code   string            // nested KMS body when set
	flat   bool              // gateway shape: flat with request_id
	body   string            // raw body, used when code is ""
	header map[string]string // extra headers
	drop   bool              // close the connection without answering
}

func ok() answer { return answer{status: 200, body: `{"key_id":"k1"}`} }

func kms(code string, status int) answer { return answer{status: status, code: code} }

// kmsServer answers from a script, then with the last entry forever, and
// keeps every request body it read.
type kmsServer struct {
	*httptest.Server
	mu     sync.Mutex
	script []answer
	bodies [][]byte
	hdrs   []http.Header
	hits   atomic.Int64
	conns  atomic.Int64
}

func newKMSServer(t *testing.T, script ...answer) *kmsServer {
	t.Helper()

	s := &kmsServer{script: script}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *kmsServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n := s.hits.Add(1)

	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.hdrs = append(s.hdrs, r.Header.Clone())
	a := s.script[min(int(n)-1, len(s.script)-1)]
	s.mu.Unlock()

	if a.drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}

	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", n))
	w.WriteHeader(a.status)

	switch {
	case a.code != "" && a.flat:
		json.NewEncoder(w).Encode(map[string]string{
			"error_code": a.code, "error_msg": "gateway says no", "request_id": "gw-1"})
	case a.code != "":
		json.NewEncoder(w).Encode(map[string]any{
			"error": map[string]string{"error_code": a.code, "error_msg": "server says " + a.code}})
	default:
		io.WriteString(w, a.body)
	}
}

func (s *kmsServer) url(action string) string {
	return s.URL + "/v1.0/proj1/kms/" + action
}

func (s *kmsServer) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// countingBody counts Close calls on a request body.
type countingBody struct {
	io.Reader
	closes atomic.Int32
}

func (b *countingBody) Close() error {
	b.closes.Add(1)
	return nil
}

func post(t *testing.T, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// constant is a Backoff factory of fixed waits.
func constant(d time.Duration) func() backoff.BackOff {
	return func() backoff.BackOff { return backoff.NewConstantBackOff(d) }
}

// registries remembers the registry of each test's metrics.
var registries sync.Map // *Metrics -> *prometheus.Registry

// metricsForTest returns metrics on a registry of the test's own.
func metricsForTest(t *testing.T) *Metrics {
	t.Helper()

	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	registries.Store(m, reg)
	return m
}

// counterValue reads one series of a counter vector.
func counterValue(t *testing.T, v *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	return testutil.ToFloat64(v.WithLabelValues(labels...))
}

// gaugeOf reads a label-less gauge of m by name.
func gaugeOf(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()

	reg, _ := registries.Load(m)
	families, err := reg.(*prometheus.Registry).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// gatherText returns everything m exposes, in the text format.
func gatherText(t *testing.T, m *Metrics) string {
	t.Helper()

	reg, _ := registries.Load(m)
	families, err := reg.(*prometheus.Registry).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		expfmt.MetricFamilyToText(&b, f)
	}
	return b.String()
}
