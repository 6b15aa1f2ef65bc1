package kmsretry

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestRetryBudgetDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   RetryBudget
		want RetryBudget
	}{
		{"zero", RetryBudget{}, RetryBudget{Capacity: 500, RetryCost: 5, TimeoutCost: 10,
			SuccessReward: 1}},
		{"negative", RetryBudget{Capacity: -1, RetryCost: -1, TimeoutCost: -1,
			SuccessReward: -1}, RetryBudget{Capacity: 500, RetryCost: 5, TimeoutCost: 10,
			SuccessReward: 1}},
		{"set", RetryBudget{Capacity: 20, RetryCost: 3, TimeoutCost: 7, SuccessReward: 2},
			RetryBudget{Capacity: 20, RetryCost: 3, TimeoutCost: 7, SuccessReward: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.withDefaults(); got != tt.want {
				t.Errorf("withDefaults = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// budgetOp is one step on a bucket: take cost tokens (cost > 0) or reward (0).
type budgetOp struct {
	cost int
	ok   bool  // what take should report
	left int64 // tokens after the step
}

func TestBucketArithmetic(t *testing.T) {
	tests := []struct {
		name string
		cfg  RetryBudget
		ops  []budgetOp
	}{
		{"default capacity", RetryBudget{}, []budgetOp{
			{5, true, 495}, {10, true, 485}, {0, true, 486}, {0, true, 487},
		}},
		{"runs dry", RetryBudget{Capacity: 12}, []budgetOp{
			{5, true, 7}, {5, true, 2}, {5, false, 2}, {2, true, 0}, {1, false, 0},
		}},
		{"take exactly all", RetryBudget{Capacity: 10}, []budgetOp{{10, true, 0}, {1, false, 0}}},
		{"reward refills", RetryBudget{Capacity: 10, SuccessReward: 3}, []budgetOp{
			{10, true, 0}, {0, true, 3}, {0, true, 6}, {5, true, 1}, {0, true, 4},
		}},
		{"reward capped at capacity", RetryBudget{Capacity: 10, SuccessReward: 4}, []budgetOp{
			{0, true, 10}, {3, true, 7}, {0, true, 10}, {1, true, 9}, {0, true, 10},
		}},
		{"cost above capacity", RetryBudget{Capacity: 10}, []budgetOp{{11, false, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(tt.cfg)
			for i, o := range tt.ops {
				if o.cost == 0 {
					b.succeeded(0)
				} else if got := b.take(o.cost); got != o.ok {
					t.Fatalf("step %d: take(%d) = %v, want %v", i, o.cost, got, o.ok)
				}
				if got := b.tokens.Load(); got != o.left {
					t.Fatalf("step %d: %d tokens left, want %d", i, got, o.left)
				}
			}
		})
	}
}

func TestBucketOff(t *testing.T) {
	b := newBucket(RetryBudget{Off: true, Capacity: 1})
	if b != nil {
		t.Fatalf("newBucket(Off) = %+v, want nil", b)
	}
	for i := range 10000 {
		if !b.take(1 << 20) {
			t.Fatalf("take %d on a nil bucket failed", i)
		}
		b.succeeded(0)
	}
	if tr := New(nil, WithRetryBudget(RetryBudget{Off: true})); tr.budget != nil ||
		tr.budgetCost(true) != 0 || tr.budgetCost(false) != 0 {
		t.Errorf("transport with budget off: bucket %v, costs %d/%d",
			tr.budget, tr.budgetCost(true), tr.budgetCost(false))
	}
}

func TestTransportBudgetCost(t *testing.T) {
	tr := New(nil, WithRetryBudget(RetryBudget{RetryCost: 3, TimeoutCost: 8}))
	if got := tr.budgetCost(false); got != 3 {
		t.Errorf("retry cost = %d, want 3", got)
	}
	if got := tr.budgetCost(true); got != 8 {
		t.Errorf("timeout cost = %d, want 8", got)
	}
	if got := tr.budget.tokens.Load(); got != 500 {
		t.Errorf("a new transport's bucket holds %d tokens, want 500", got)
	}
}

// TestBucketConcurrent lets 100 goroutines take from and reward one bucket:
// it never goes below zero and every token is accounted for.
func TestBucketConcurrent(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		cost     int
		rewards  bool
	}{
		{"drain", 1000, 3, false},
		{"drain and refill", 500, 5, true},
		{"exact", 1000, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(RetryBudget{Capacity: tt.capacity})

			var (
				taken, rewarded, negative atomic.Int64
				start                     = make(chan struct{})
				wg                        sync.WaitGroup
			)
			for range 100 {
				wg.Go(func() {
					<-start
					for range 50 {
						if b.take(tt.cost) {
							taken.Add(1)
						}
						if b.tokens.Load() < 0 {
							negative.Add(1)
						}
						if tt.rewards && b.tokens.Load() < int64(tt.capacity) {
							before := b.tokens.Load()
							b.succeeded(0)
							if b.tokens.Load() != before {
								rewarded.Add(1)
							}
						}
					}
				})
			}
			close(start)
			wg.Wait()

			left := b.tokens.Load()
			if negative.Load() != 0 || left < 0 {
				t.Fatalf("bucket went below zero (%d sightings, %d left)", negative.Load(), left)
			}
			if left > int64(tt.capacity) {
				t.Fatalf("bucket holds %d tokens, above its capacity %d", left, tt.capacity)
			}
			if !tt.rewards {
				want := int64(tt.capacity) - taken.Load()*int64(tt.cost)
				if left != want {
					t.Errorf("%d takes of %d from %d left %d tokens, want %d",
						taken.Load(), tt.cost, tt.capacity, left, want)
				}
				if left >= int64(tt.cost) {
					t.Errorf("%d tokens left after 5,000 takes of %d", left, tt.cost)
				}
			}
		})
	}
}

// TestBucketConcurrentLedger checks the totals of concurrent takes and
// rewards exactly: with reward 1 and a bucket never full, every reward adds
// one token.
func TestBucketConcurrentLedger(t *testing.T) {
	const capacity = 1 << 20
	b := newBucket(RetryBudget{Capacity: capacity})
	b.tokens.Store(capacity / 2) // room for every reward

	var (
		taken atomic.Int64
		wg    sync.WaitGroup
	)
	for g := range 100 {
		wg.Go(func() {
			for range 200 {
				if g%2 == 0 {
					b.succeeded(0)
				} else if b.take(7) {
					taken.Add(1)
				}
			}
		})
	}
	wg.Wait()

	want := int64(capacity/2) + 50*200 - 7*taken.Load()
	if got := b.tokens.Load(); got != want || taken.Load() != 50*200 {
		t.Errorf("tokens = %d after %d takes, want %d after %d", got, taken.Load(), want,
			50*200)
	}
}
