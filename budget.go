package kmsretry

import "sync/atomic"

// RetryBudget is a token bucket shared by every request of one [Transport],
// like the retry quota of the AWS SDKs. Each retry takes tokens; a request
// that succeeds after retries gives back what its retries took, and one that
// succeeds at the first try adds SuccessReward. Only retries that end in
// failure drain the bucket, so a steady share of transient faults costs
// nothing, while under a lasting outage retries stop and each request is
// sent about once, instead of multiplying the load on a service that is
// already down. A zero field takes its default.
type RetryBudget struct {
	// Off turns the budget off: retries are bounded by the policies alone.
	Off bool

	// Capacity is the bucket's size and starting level (default 500).
	Capacity int

	// RetryCost is taken for each retry after an error answer (default 5).
	RetryCost int

	// TimeoutCost is taken for each retry after a network failure or a
	// timeout, which cost the service more (default 10).
	TimeoutCost int

	// SuccessReward is put back by each request that succeeds at the first
	// try (default 1).
	SuccessReward int
}

// DefaultRetryBudget returns the budget a [Transport] uses unless
// [WithRetryBudget] replaces it: 500 tokens, 5 per retry, 10 per retry after
// a network failure or timeout, 1 back per first-try success.
func DefaultRetryBudget() RetryBudget {
	return RetryBudget{}.withDefaults()
}

// withDefaults fills the zero fields of b.
func (b RetryBudget) withDefaults() RetryBudget {
	if b.Capacity <= 0 {
		b.Capacity = 500
	}
	if b.RetryCost <= 0 {
		b.RetryCost = 5
	}
	if b.TimeoutCost <= 0 {
		b.TimeoutCost = 10
	}
	if b.SuccessReward <= 0 {
		b.SuccessReward = 1
	}
	return b
}

// bucket is a RetryBudget at work. A nil bucket never runs dry.
type bucket struct {
	cfg    RetryBudget
	tokens atomic.Int64
}

// newBucket returns a full bucket, or nil when the budget is off.
func newBucket(b RetryBudget) *bucket {
	if b.Off {
		return nil
	}

	bk := &bucket{cfg: b.withDefaults()}
	bk.tokens.Store(int64(bk.cfg.Capacity))
	return bk
}

// take removes cost tokens and reports whether there were enough.
func (b *bucket) take(cost int) bool {
	if b == nil {
		return true
	}

	for {
		have := b.tokens.Load()
		if have < int64(cost) {
			return false
		}
		if b.tokens.CompareAndSwap(have, have-int64(cost)) {
			return true
		}
	}
}

// succeeded credits a request that succeeded after spending spent tokens on
// retries: it gives them back, or adds the reward for a first-try success.
func (b *bucket) succeeded(spent int) {
	if b == nil {
		return
	}

	if spent == 0 {
		b.give(b.cfg.SuccessReward)
		return
	}
	b.give(spent)
}

// give puts n tokens back, up to the capacity. A full bucket costs one load.
func (b *bucket) give(n int) {
	for {
		have := b.tokens.Load()
		if have >= int64(b.cfg.Capacity) {
			return
		}
		add := min(int64(n), int64(b.cfg.Capacity)-have)
		if b.tokens.CompareAndSwap(have, have+add) {
			return
		}
	}
}
