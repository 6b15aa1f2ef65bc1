package kmsretry

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBillingCooldown is how long requests for a project id fail fast after
// a billing answer, unless [WithBillingCooldown] says otherwise.
const DefaultBillingCooldown = time.Minute

// billingLatch remembers the project ids whose account KMS reported frozen,
// each until its cool-down ends. A nil latch never engages.
type billingLatch struct {
	cooldown time.Duration
	now      func() time.Time

	// engaged counts latched project ids, so that the common case of none
	// costs one atomic load.
	engaged atomic.Int64

	mu    sync.Mutex
	until map[string]time.Time
}

// newLatch returns a latch, or nil when cooldown is negative (turned off).
func newLatch(cooldown time.Duration, now func() time.Time) *billingLatch {
	if cooldown < 0 {
		return nil
	}
	if cooldown == 0 {
		cooldown = DefaultBillingCooldown
	}
	return &billingLatch{cooldown: cooldown, now: now, until: map[string]time.Time{}}
}

// engage latches project for one cool-down from now.
func (l *billingLatch) engage(project string) {
	if l == nil || project == "" {
		return
	}

	l.mu.Lock()
	defer l.mu.Unlock()

	if _, ok := l.until[project]; !ok {
		l.engaged.Add(1)
	}
	l.until[project] = l.now().Add(l.cooldown)
}

// latched reports whether project is latched now. An expired latch is
// released on the way.
func (l *billingLatch) latched(project string) bool {
	if l == nil || l.engaged.Load() == 0 {
		return false
	}

	l.mu.Lock()
	defer l.mu.Unlock()

	l.expire()
	_, ok := l.until[project]
	return ok
}

// expire releases every latch whose cool-down has ended. l.mu is held.
func (l *billingLatch) expire() {
	now := l.now()
	for p, t := range l.until {
		if !now.Before(t) {
			delete(l.until, p)
			l.engaged.Add(-1)
		}
	}
}

// count returns the number of project ids latched now.
func (l *billingLatch) count() int {
	if l == nil {
		return 0
	}

	l.mu.Lock()
	defer l.mu.Unlock()

	l.expire()
	return len(l.until)
}
