package kmsretry

import (
	"log/slog"
	"time"
)

// Option configures a [Transport] made by [New].
type Option func(*config)

// config is what the options set; New turns it into a Transport.
type config struct {
	policies  [numClasses]Policy
	moved     map[string]Class
	refresher Refresher
	refreshTO time.Duration
	metrics   *Metrics
	logger    *slog.Logger
	hook      func(Event)
	budget    RetryBudget
	cooldown  time.Duration
	clock     Clock
	maxBuffer int64
}

// DefaultMaxBodyBuffer is how much of a request body without GetBody the
// transport buffers to be able to send it again. KMS request bodies are a few
// KiB at most; a larger one is sent once, unbuffered, and never retried.
const DefaultMaxBodyBuffer = 1 << 20

// WithPolicy replaces the policy of class c. Zero fields of p take the
// class's defaults; see [DefaultPolicy]. [Billing] and [Fatal] answers are
// never retried whatever their policy says: to retry a code, move it to
// another class with [WithClass].
func WithPolicy(c Class, p Policy) Option {
	return func(cfg *config) {
		if c > Unknown && int(c) < numClasses {
			cfg.policies[c] = p
		}
	}
}

// WithClass moves a code to another class, overriding the catalogue, for
// example to retry KMS.2403 (grant creation failed) as [Retryable]. Codes
// the catalogue does not know can be classified this way too. A class
// outside [Classes] is ignored.
func WithClass(code string, c Class) Option {
	return func(cfg *config) {
		if c <= Unknown || int(c) >= numClasses {
			return // not a class the transport can act on
		}
		if cfg.moved == nil {
			cfg.moved = map[string]Class{}
		}
		cfg.moved[canonicalCode(code)] = c
	}
}

// WithRefresher sets the [Refresher] that renews credentials after an
// [AuthRefresh] answer. timeout bounds each refresh; 0 means
// [DefaultRefreshTimeout].
func WithRefresher(r Refresher, timeout time.Duration) Option {
	return func(cfg *config) {
		cfg.refresher = r
		cfg.refreshTO = timeout
	}
}

// WithMetrics makes the transport record into m. Without it the transport
// records nothing.
func WithMetrics(m *Metrics) Option {
	return func(cfg *config) { cfg.metrics = m }
}

// WithLogger makes the transport log every retry, refresh and give-up to l.
// Lines carry the action, code, class, attempt and wait, never the URL,
// query, headers or body. Without it the transport logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) { cfg.logger = l }
}

// WithHook makes the transport call h with every retry, refresh and give-up,
// synchronously, on the goroutine of the request. h must be quick and safe
// for concurrent use.
func WithHook(h func(Event)) Option {
	return func(cfg *config) { cfg.hook = h }
}

// WithRetryBudget replaces the default [RetryBudget]. Use RetryBudget{Off:
// true} to bound retries by the policies alone.
func WithRetryBudget(b RetryBudget) Option {
	return func(cfg *config) { cfg.budget = b }
}

// WithBillingCooldown sets how long requests for a project id fail fast with
// [ErrBillingLatched] after a billing answer for it. 0 means
// [DefaultBillingCooldown]; a negative value turns the latch off.
func WithBillingCooldown(d time.Duration) Option {
	return func(cfg *config) { cfg.cooldown = d }
}

// WithClock replaces the system clock, so that tests can run retries and
// waits without sleeping.
func WithClock(c Clock) Option {
	return func(cfg *config) { cfg.clock = c }
}

// WithMaxBodyBuffer sets how many bytes of a request body without GetBody are
// buffered for resending; 0 means [DefaultMaxBodyBuffer].
func WithMaxBodyBuffer(n int64) Option {
	return func(cfg *config) { cfg.maxBuffer = n }
}
