package kmsretry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// Transport is an [http.RoundTripper] that makes KMS requests survive the
// service's failures. Make one with [New]; the zero Transport refuses every
// request with an error. For each error answer it reads the KMS code, sorts it
// into a [Class] and acts on the class's [Policy]: retry with backoff,
// refresh credentials and retry once, or return at once.
//
// Transport keeps the RoundTripper contract:
//   - the caller's request is never modified; every send after the first,
//     and any send that needs a change, uses a copy;
//   - the request body is sent byte for byte on every attempt, from GetBody
//     or from a buffer of at most [DefaultMaxBodyBuffer] bytes; a body it
//     cannot replay is sent once and not retried;
//   - the request body is closed exactly once, on every path;
//   - when an answer was obtained it is returned with a nil error and its
//     body readable from the first byte, including after the last retry
//     gives up; use [ResponseError] to turn it into an [*Error];
//   - answers it discards are read and closed, so connections are reused;
//   - it is safe for concurrent use by any number of goroutines.
//
// Network failures are resent only when nothing was sent, or when the
// action is [Safe] to repeat; otherwise the error wraps [ErrOutcomeUnknown].
type Transport struct {
	next      http.RoundTripper
	rules     rules
	policies  [numClasses]Policy
	gate      *refreshGate
	metrics   *Metrics
	logger    *slog.Logger
	hook      func(Event)
	budget    *bucket
	latch     *billingLatch
	clock     Clock
	maxBuffer int64
}

// New returns a Transport that sends requests through next, or through
// [http.DefaultTransport] when next is nil. With no options it uses the
// default policy of every class, the default retry budget and billing
// cool-down, records no metrics, logs nothing, and treats [AuthRefresh]
// answers as final.
func New(next http.RoundTripper, opts ...Option) *Transport {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}

	if next == nil {
		next = http.DefaultTransport
	}
	if cfg.clock == nil {
		cfg.clock = systemClock{}
	}
	if cfg.maxBuffer <= 0 {
		cfg.maxBuffer = DefaultMaxBodyBuffer
	}

	t := &Transport{
		next:      next,
		rules:     rules{moved: cfg.moved},
		metrics:   cfg.metrics,
		logger:    cfg.logger,
		hook:      cfg.hook,
		budget:    newBucket(cfg.budget),
		latch:     newLatch(cfg.cooldown, cfg.clock.Now),
		clock:     cfg.clock,
		maxBuffer: cfg.maxBuffer,
	}
	for _, c := range Classes {
		t.policies[c] = cfg.policies[c].withDefaults(c)
	}

	if cfg.refresher != nil {
		t.gate = newGate(cfg.refresher, cfg.refreshTO, t.refreshed)
	}
	if t.metrics != nil {
		t.metrics.watch(t.latch, t.budget)
	}
	return t
}

// RoundTrip sends req, retrying as the class of each answer says, and
// returns the final answer. It implements [http.RoundTripper].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.next == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errNotMade
	}

	var c call
	t.startCall(&c, req)
	if err := c.admit(); err != nil {
		return nil, err
	}

	if err := c.prepareBody(); err != nil {
		return nil, err
	}

	for {
		resp, err := c.send()
		if !c.again(resp, err) {
			return c.finish(resp, err)
		}
	}
}

// errNotMade is returned by a Transport that was not made by New.
var errNotMade = errors.New("kmsretry: Transport used without New; make it with kmsretry.New")

// CloseIdleConnections closes the idle connections of the wrapped transport,
// if it has such a method.
func (t *Transport) CloseIdleConnections() {
	type closer interface{ CloseIdleConnections() }
	if c, ok := t.next.(closer); ok {
		c.CloseIdleConnections()
	}
}

// Policy returns the policy the transport applies to class c, defaults
// filled in.
func (t *Transport) Policy(c Class) Policy {
	if c <= Unknown || int(c) >= numClasses {
		return Policy{}
	}
	return t.policies[c]
}

// refreshed records one shared refresh, started by an answer with code, in
// the metrics and the log.
func (t *Transport) refreshed(code string, err error) {
	t.metrics.refreshed(err)

	ev := Event{Kind: EventRefresh, Code: code, Class: AuthRefresh, Err: err,
		Reason: "credentials renewed"}
	if err != nil {
		ev.Reason = "the refresh failed; requests keep their last answer"
	}
	t.emit(nil, ev)
}

// emit hands ev to the hook and the logger, if any.
func (t *Transport) emit(req *http.Request, ev Event) {
	if t.hook != nil {
		t.hook(ev)
	}
	if t.logger == nil {
		return
	}

	ctx := context.Background()
	if req != nil {
		ctx = req.Context()
	}
	logEvent(ctx, t.logger, ev)
}
