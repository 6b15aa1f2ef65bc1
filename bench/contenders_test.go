package bench

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsretry/kmsretry"
)

// Every retrying contender gets the same limits: three attempts in all, and
// no wait between them, so that waits do not hide what each library costs.
// (A wait of even one microsecond took hundreds of microseconds here when
// nothing else was runnable: the runtime's poller sleeps in milliseconds.)
const (
	attempts = 3
	tinyWait = 0
)

// contender sends one logical request in the way its library is meant to be
// used, and returns the final answer.
type contender struct {
	name string
	send sendFunc
}

// sendFunc sends one logical request to url; seq asks for a fresh
// seqHeader, which the one-retry server needs.
type sendFunc func(b *testing.B, url string, seq bool) (*http.Response, error)

// contenders returns the contenders, each sending through next, in a fixed
// order with the bare transport first: benchstat compares every column with
// the first one.
func contenders(b *testing.B, next http.RoundTripper) []contender {
	rc := retryableClient(next)
	return []contender{
		{"bare", bareLoop(&http.Client{Transport: next})},
		{"kmsretry", viaClient(kmsretry.New(next, kmsOptions()...))},
		{"kmsretry+metrics", viaClient(kmsretry.New(next,
			append(kmsOptions(), kmsretry.WithMetrics(newMetrics(b)))...))},
		{"retryablehttp", viaRetryable(rc)},
		{"retryablehttp-rt", viaClient(&retryablehttp.RoundTripper{Client: rc})},
		{"failsafehttp", viaClient(failsafehttp.NewRoundTripper(next, failsafePolicy()))},
	}
}

// kmsOptions gives kmsretry the common limits. The retry budget is off: on
// the give-up path every request fails after two retries, which empties the
// default budget within fifty requests and would leave kmsretry sending each
// request once while the others send it three times.
func kmsOptions() []kmsretry.Option {
	return []kmsretry.Option{
		kmsretry.WithPolicy(kmsretry.Retryable, kmsretry.Policy{
			MaxAttempts: attempts,
			Backoff: func() backoff.BackOff {
				return backoff.NewConstantBackOff(tinyWait)
			},
			MaxElapsed: time.Minute,
		}),
		kmsretry.WithRetryBudget(kmsretry.RetryBudget{Off: true}),
	}
}

func newMetrics(b *testing.B) *kmsretry.Metrics {
	m, err := kmsretry.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// retryableClient is a retryablehttp.Client without a logger, over next,
// that hands the last answer back instead of an error when it gives up, as
// kmsretry and failsafehttp (with ReturnLastFailure) do.
func retryableClient(next http.RoundTripper) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: next},
		Logger:       nil,
		RetryMax:     attempts - 1,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff:      retryableWait,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// retryableWait is retryablehttp's Backoff with the common wait.
func retryableWait(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return tinyWait
}

// failsafePolicy is failsafehttp's HTTP retry policy with the common limits.
// failsafe-go neither drains nor closes the answers it retries, so the
// policy does it before each retry, as a caller must, to keep connections
// in the pool.
func failsafePolicy() failsafe.Policy[*http.Response] {
	return failsafehttp.NewRetryPolicyBuilder().
		WithMaxAttempts(attempts).
		WithDelay(tinyWait).
		ReturnLastFailure().
		OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[*http.Response]) {
			drain(e.LastResult())
		}).
		Build()
}

// bareLoop is the baseline: an http.Client, and a hand-written loop that
// resends an answer of 500 or more, up to the common attempts, with no
// library and no wait. On the success path it sends once, like a plain
// client.
func bareLoop(c *http.Client) sendFunc {
	return func(b *testing.B, url string, seq bool) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(reqBody))
		if err != nil {
			b.Fatal(err)
		}
		setHeaders(req.Header, seq)

		for try := 1; ; try++ {
			resp, err := c.Do(req)
			if err != nil || resp.StatusCode < 500 || try == attempts {
				return resp, err
			}
			drain(resp)
			if req.Body, err = req.GetBody(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// viaClient sends through an http.Client over rt, with a request made by
// http.NewRequest from a bytes.Reader, which sets GetBody.
func viaClient(rt http.RoundTripper) sendFunc {
	c := &http.Client{Transport: rt}
	return func(b *testing.B, url string, seq bool) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(reqBody))
		if err != nil {
			b.Fatal(err)
		}
		setHeaders(req.Header, seq)
		return c.Do(req)
	}
}

// viaRetryable sends with retryablehttp's own client and request type.
func viaRetryable(c *retryablehttp.Client) sendFunc {
	return func(b *testing.B, url string, seq bool) (*http.Response, error) {
		req, err := retryablehttp.NewRequest(http.MethodPost, url, bytes.NewReader(reqBody))
		if err != nil {
			b.Fatal(err)
		}
		setHeaders(req.Header, seq)
		return c.Do(req)
	}
}

// setHeaders sets the headers every contender sends, and a fresh seqHeader
// when withSeq is set.
func setHeaders(h http.Header, withSeq bool) {
	h["Content-Type"] = []string{"application/json"}
	if withSeq {
		h[seqHeader] = []string{strconv.FormatUint(seq.Add(1), 10)}
	}
}

// drain reads and closes an answer's body so its connection can be reused.
func drain(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// bytesReader returns the request body as a fresh reader; http.NewRequest,
// which Post calls, sets GetBody from it.
func bytesReader() *bytes.Reader { return bytes.NewReader(reqBody) }
