package retryablekms

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

var _ retryablehttp.ErrorHandler = ErrorHandler

// The retry settings of [NewClient]: five sends in all, as the vendor
// advises for 5xx and 429 answers, waits that start like kmsretry's Retryable
// policy, and a Retry-After of up to 10 seconds honoured in full.
const (
	// DefaultRetryMax is how many times NewClient's client resends.
	DefaultRetryMax = 4

	// DefaultRetryWaitMin is the first wait between sends.
	DefaultRetryWaitMin = 100 * time.Millisecond

	// DefaultRetryWaitMax bounds every wait, a Retry-After included.
	DefaultRetryWaitMax = 10 * time.Second
)

// NewClient returns a [retryablehttp.Client] made by
// [retryablehttp.NewClient], then given [Configure], [DefaultRetryMax],
// [DefaultRetryWaitMin], [DefaultRetryWaitMax] and no logger:
// retryablehttp's default logger writes every request to stderr.
func NewClient() *retryablehttp.Client {
	c := retryablehttp.NewClient()
	Configure(c)

	c.Logger = nil
	c.RetryMax = DefaultRetryMax
	c.RetryWaitMin = DefaultRetryWaitMin
	c.RetryWaitMax = DefaultRetryWaitMax
	return c
}

// Configure sets the CheckRetry, Backoff and ErrorHandler of c to this
// package's and leaves every other field as it is. Call it before c is
// first used.
func Configure(c *retryablehttp.Client) {
	c.CheckRetry = CheckRetry
	c.Backoff = Backoff
	c.ErrorHandler = ErrorHandler
}

// ErrorHandler is a [retryablehttp.ErrorHandler] that keeps the last answer.
// retryablehttp calls it when a request ends without success: the retries ran
// out, [CheckRetry] returned an error, or a send failed for good.
//
// When the retries ran out on an answer, ErrorHandler returns that answer with
// a nil error and its body unread, as kmsretry.Transport does; retryablehttp's
// default would close it and return only "giving up after N attempt(s)". The
// caller must therefore check the status, for example with
// kmsretry.ResponseError, which gives the code, class and request id.
//
// Otherwise it closes the answer, if any, and returns the error, which
// wraps the cause and says how many sends were made.
func ErrorHandler(resp *http.Response, err error, numTries int) (*http.Response, error) {
	if err == nil && resp != nil {
		return resp, nil
	}

	if resp != nil && resp.Body != nil {
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		resp.Body.Close()
	}
	return nil, fmt.Errorf("retryablekms: giving up after %d attempt(s): %w", numTries, err)
}

// drainLimit bounds how much of an unwanted answer is read so that its
// connection can be reused.
const drainLimit = 64 << 10
