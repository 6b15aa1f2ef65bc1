package retryablekms

import (
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/kmsretry/kmsretry"
)

var _ retryablehttp.Backoff = Backoff

// Backoff is a [retryablehttp.Backoff] that honours Retry-After. waitMin and
// waitMax are the client's RetryWaitMin and RetryWaitMax; attempt counts the
// retries already made, from 0.
//
// When resp carries a Retry-After header, in seconds or as an HTTP-date,
// Backoff waits that long, but never longer than waitMax: the next send then
// comes early rather than the client stalling on a gateway's whim. A negative
// or unreadable value, or a date already past, counts as no header.
// "Retry-After: 0" means retry at once.
//
// Otherwise the wait is drawn at random from the upper half of
// [retryablehttp.DefaultBackoff]'s exponential step waitMin·2^attempt, never
// below waitMin nor above waitMax: with 100ms and 10s, the first retry waits
// 100ms, the second 100-200ms, the third 200-400ms, the fourth 400-800ms. The
// jitter keeps clients throttled together from retrying together.
//
// Unlike DefaultBackoff, which reads Retry-After only on 429 and 503 answers
// and takes a past date as a zero wait, Backoff reads it on any answer that
// [CheckRetry] retries: KMS gateways send it on 502 and 504 too.
func Backoff(waitMin, waitMax time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := kmsretry.RetryAfter(resp.Header, time.Now()); ok {
			return min(d, waitMax)
		}
	}

	ceil := retryablehttp.DefaultBackoff(waitMin, waitMax, attempt, nil)
	floor := max(ceil/2, waitMin)
	if floor >= ceil {
		return ceil
	}
	return floor + rand.N(ceil-floor+1)
}
