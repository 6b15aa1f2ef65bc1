package kmsretry

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy says how the transport treats answers of one class. A zero field
// takes the class's default, listed in the README and returned by
// [DefaultPolicy].
type Policy struct {
	// MaxAttempts is how many answers of this class one request may get,
	// counting the first send; the last one is returned to the caller. 1
	// means never retry.
	MaxAttempts int

	// Backoff makes the backoff of one request. It is called once per
	// request, lazily, because a backoff.BackOff holds state and is not safe
	// to share. When it returns backoff.Stop the transport gives up.
	Backoff func() backoff.BackOff

	// MaxElapsed bounds the time from the first send to the start of a
	// retry; a wait that would end later gives up instead.
	MaxElapsed time.Duration

	// MaxRetryAfter is the longest Retry-After the transport will honour
	// for Retryable and Throttled answers. A longer one gives up at once
	// with the answer in hand.
	MaxRetryAfter time.Duration

	// AttemptTimeout, when positive, bounds each send made after an answer
	// of this class; the Retryable policy's value also bounds the first
	// send. A timed-out send counts as an ambiguous network failure.
	AttemptTimeout time.Duration
}

// numClasses sizes arrays indexed by Class.
const numClasses = int(Throttled) + 1

// exponential returns a Backoff factory of jittered exponential backoff.
func exponential(initial, maxInterval time.Duration) func() backoff.BackOff {
	return func() backoff.BackOff {
		b := backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(initial),
			backoff.WithMaxInterval(maxInterval),
			backoff.WithMultiplier(2),
			backoff.WithRandomizationFactor(0.5),
			backoff.WithMaxElapsedTime(0), // Policy.MaxElapsed bounds the time
		)
		return b
	}
}

// noWait is the Backoff of classes that retry at once or never.
func noWait() backoff.BackOff { return &backoff.ZeroBackOff{} }

// DefaultPolicy returns the policy a [Transport] uses for class when no
// [WithPolicy] option replaces it. They follow the vendor's advice of three
// to five attempts for 5xx and 429 answers.
func DefaultPolicy(class Class) Policy {
	switch class {
	case Retryable:
		return Policy{
			MaxAttempts:   4,
			Backoff:       exponential(100*time.Millisecond, 2*time.Second),
			MaxElapsed:    15 * time.Second,
			MaxRetryAfter: 10 * time.Second,
		}
	case Throttled:
		return Policy{
			MaxAttempts:   5,
			Backoff:       exponential(250*time.Millisecond, 4*time.Second),
			MaxElapsed:    20 * time.Second,
			MaxRetryAfter: 10 * time.Second,
		}
	case AuthRefresh:
		return Policy{MaxAttempts: 2, Backoff: noWait, MaxElapsed: 30 * time.Second}
	default:
		return Policy{MaxAttempts: 1, Backoff: noWait}
	}
}

// withDefaults fills the zero fields of p from the class's default.
func (p Policy) withDefaults(class Class) Policy {
	d := DefaultPolicy(class)
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.Backoff == nil {
		p.Backoff = d.Backoff
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	return p
}
