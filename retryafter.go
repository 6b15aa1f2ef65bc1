package kmsretry

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// RetryAfter reads the Retry-After header of h, in seconds or as an
// HTTP-date relative to now, and reports false when it is absent or useless:
// negative, unreadable, or a date already past. Values past a day are
// clamped to a day. The transport uses it for Retryable and Throttled
// answers; adapters for other retry libraries can use it too.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	return retryAfter(h, now)
}

// retryAfter parses a Retry-After header, in seconds or as an HTTP-date, and
// reports false when it is absent or useless: negative, garbage, or a date
// already past.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	return parseRetryAfter(v, now)
}

// parseRetryAfter is retryAfter on the header's value.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if digitsOnly(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			secs = math.MaxInt64 // only a range error: more than int64 holds
		}
		// Clamp so that huge values cannot overflow; no policy waits a day.
		return time.Duration(min(secs, 86400)) * time.Second, true
	}

	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}

	d := at.Sub(now)
	if d <= 0 {
		return 0, false
	}
	return d, true
}

// digitsOnly reports whether s is a non-empty run of ASCII digits: the only
// form of delta-seconds, without sign or spaces.
func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
