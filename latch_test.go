package kmsretry

import (
	"sync"
	"testing"
	"time"
)

// fakeNow is a settable time source for a latch.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeNow() *fakeNow {
	return &fakeNow{t: time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *fakeNow) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// latchStep advances the clock, engages a project if any, then checks which
// projects are latched.
type latchStep struct {
	advance time.Duration
	engage  string
	latched []string
	free    []string
	count   int
}

func TestBillingLatch(t *testing.T) {
	tests := []struct {
		name     string
		cooldown time.Duration
		steps    []latchStep
	}{
		{"engage and expire", 10 * time.Second, []latchStep{
			{0, "", nil, []string{"p1"}, 0},
			{0, "p1", []string{"p1"}, []string{"p2", ""}, 1},
			{10*time.Second - time.Nanosecond, "", []string{"p1"}, nil, 1},
			{time.Nanosecond, "", nil, []string{"p1"}, 0},
		}},
		{"other projects unaffected", time.Minute, []latchStep{
			{0, "p1", []string{"p1"}, []string{"p2", "p3"}, 1},
			{30 * time.Second, "p2", []string{"p1", "p2"}, []string{"p3"}, 2},
			{30 * time.Second, "", []string{"p2"}, []string{"p1", "p3"}, 1},
			{30 * time.Second, "", nil, []string{"p1", "p2", "p3"}, 0},
		}},
		{"engage again extends", time.Minute, []latchStep{
			{0, "p1", []string{"p1"}, nil, 1},
			{50 * time.Second, "p1", []string{"p1"}, nil, 1},
			{50 * time.Second, "", []string{"p1"}, nil, 1},
			{10 * time.Second, "", nil, []string{"p1"}, 0},
		}},
		{"re-engage after expiry", time.Second, []latchStep{
			{0, "p1", []string{"p1"}, nil, 1},
			{time.Second, "", nil, []string{"p1"}, 0},
			{0, "p1", []string{"p1"}, nil, 1},
			{time.Second, "", nil, []string{"p1"}, 0},
		}},
		{"empty project never latched", time.Minute, []latchStep{
			{0, "", nil, []string{""}, 0},
		}},
		{"zero cooldown is the default", 0, []latchStep{
			{0, "p1", []string{"p1"}, nil, 1},
			{DefaultBillingCooldown - time.Nanosecond, "", []string{"p1"}, nil, 1},
			{time.Nanosecond, "", nil, []string{"p1"}, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeNow()
			l := newLatch(tt.cooldown, clk.now)
			for i, s := range tt.steps {
				clk.advance(s.advance)
				if s.engage != "" {
					l.engage(s.engage)
				}
				for _, p := range s.latched {
					if !l.latched(p) {
						t.Errorf("step %d: %q not latched", i, p)
					}
				}
				for _, p := range s.free {
					if l.latched(p) {
						t.Errorf("step %d: %q latched", i, p)
					}
				}
				if got := l.count(); got != s.count {
					t.Errorf("step %d: count = %d, want %d", i, got, s.count)
				}
				if got := l.engaged.Load(); got != int64(s.count) {
					t.Errorf("step %d: engaged = %d, want %d", i, got, s.count)
				}
			}
		})
	}
}

// TestBillingLatchCountExpires checks that count alone releases expired
// latches, without a call to latched.
func TestBillingLatchCountExpires(t *testing.T) {
	clk := newFakeNow()
	l := newLatch(time.Second, clk.now)
	for _, p := range []string{"a", "b", "c"} {
		l.engage(p)
	}
	clk.advance(time.Second)
	l.engage("d")
	l.engage("") // no project id: nothing to latch

	if got := l.count(); got != 1 {
		t.Errorf("count = %d, want 1", got)
	}
	if got := l.engaged.Load(); got != 1 {
		t.Errorf("engaged = %d, want 1", got)
	}
}

func TestBillingLatchOff(t *testing.T) {
	tests := []struct {
		name     string
		cooldown time.Duration
	}{
		{"negative", -time.Nanosecond},
		{"very negative", -time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLatch(tt.cooldown, newFakeNow().now)
			if l != nil {
				t.Fatalf("newLatch(%v) = %+v, want nil", tt.cooldown, l)
			}
			l.engage("p1")
			if l.latched("p1") || l.count() != 0 {
				t.Error("a nil latch engaged")
			}
		})
	}

	t.Run("transport option", func(t *testing.T) {
		if tr := New(nil, WithBillingCooldown(-1)); tr.latch != nil {
			t.Errorf("WithBillingCooldown(-1) left a latch")
		}
		if tr := New(nil); tr.latch == nil || tr.latch.cooldown != DefaultBillingCooldown {
			t.Errorf("default transport latch = %+v", tr.latch)
		}
	})
}

func TestBillingLatchConcurrent(t *testing.T) {
	clk := newFakeNow()
	l := newLatch(time.Minute, clk.now)
	projects := []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"}

	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			p := projects[g%len(projects)]
			for range 100 {
				l.engage(p)
				if !l.latched(p) {
					t.Errorf("%s not latched just after engage", p)
					return
				}
				l.count()
			}
		})
	}
	wg.Wait()

	if got := l.count(); got != len(projects) {
		t.Errorf("count = %d, want %d", got, len(projects))
	}
	clk.advance(time.Minute)
	if got := l.count(); got != 0 || l.engaged.Load() != 0 {
		t.Errorf("after the cool-down: count %d, engaged %d", got, l.engaged.Load())
	}
}
