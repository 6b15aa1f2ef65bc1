package bench

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cenkalti/backoff/v4"

	"github.com/kmsretry/kmsretry"
)

// outageRequests is how many logical requests one op sends into an outage,
// from outageWorkers goroutines.
const (
	outageRequests = 2000
	outageWorkers  = 32
)

// BenchmarkOutage sends outageRequests requests to a server that answers
// every one with KMS.0101, through a fresh Transport per op, and reports the
// sends per logical request: with the default retry budget the retries stop
// once the budget is spent; with the budget off every request is sent as
// often as the Retryable policy allows (4 times).
func BenchmarkOutage(b *testing.B) {
	budgets := []struct {
		name   string
		budget kmsretry.RetryBudget
	}{
		{"budget=default", kmsretry.RetryBudget{}},
		{"budget=off", kmsretry.RetryBudget{Off: true}},
	}
	for _, bc := range budgets {
		b.Run(bc.name, func(b *testing.B) { benchOutage(b, bc.budget) })
	}
}

func benchOutage(b *testing.B, budget kmsretry.RetryBudget) {
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		serveFail(w, r)
	}))
	defer ts.Close()
	pool := newPooled()
	defer pool.CloseIdleConnections()
	url := ts.URL + kmsPath

	noWait := kmsretry.Policy{Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} }}
	b.ReportAllocs()
	for b.Loop() {
		kt := kmsretry.New(pool, kmsretry.WithRetryBudget(budget),
			kmsretry.WithPolicy(kmsretry.Retryable, noWait))
		if err := outage(&http.Client{Transport: kt}, url); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(hits.Load())/float64(b.N*outageRequests), "attempts/req")
}

// outage sends outageRequests requests and checks that each ends with the
// server's 500.
func outage(c *http.Client, url string) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Pointer[error]
	)
	for range outageWorkers {
		wg.Go(func() {
			for next.Add(1) <= outageRequests {
				resp, err := c.Post(url, "application/json", bytesReader())
				if err != nil {
					fail.CompareAndSwap(nil, &err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusInternalServerError {
					err := errors.New("outage: status " + resp.Status)
					fail.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := fail.Load(); p != nil {
		return *p
	}
	return nil
}
