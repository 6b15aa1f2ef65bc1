package kmsretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// call is one logical request on its way through a Transport: the caller's
// request and everything learned from its sends so far.
type call struct {
	t       *Transport
	req     *http.Request
	ctx     context.Context
	action  string
	project string
	start   time.Time

	// The body: the first send's, and how to make the next ones.
	firstBody  io.ReadCloser
	getBody    func() (io.ReadCloser, error)
	replayable bool

	attempts int
	spent    int // retry budget tokens taken by this request
	perClass [numClasses]int
	backoffs [numClasses]backoff.BackOff

	sendCtx  context.Context         // the current send's context
	cancel   context.CancelCauseFunc // cancels sendCtx, if it has its own
	timer    *time.Timer             // fires the send's timeout, if any
	prepErr  error                   // the next send could not be prepared
	waitErr  error                   // the caller's context ended during a wait
	timeout  time.Duration           // the next send's timeout, 0 for none
	sentGens [numFamilies]uint64     // credential generations of the current send

	// The last outcome: an answer kept to return, or a failure.
	last     *http.Response
	class    Class
	code     string
	answer   ErrorBody // what the last error answer said of itself
	fail     failure
	unknown  bool   // an ambiguous failure of an action unsafe to resend
	giveUpOn string // why the transport stopped, for the give-up event
}

// startCall starts a logical request in c, which the caller keeps on its
// stack: the common path then allocates nothing for it.
func (t *Transport) startCall(c *call, req *http.Request) {
	*c = call{
		t:       t,
		req:     req,
		ctx:     req.Context(),
		start:   t.clock.Now(),
		timeout: t.policies[Retryable].AttemptTimeout,
		action:  actionOther,
	}
	if req.URL != nil {
		c.action, c.project = Action(req.URL.Path)
	}
}

// admit refuses the request, unsent, when its project is latched for
// billing.
func (c *call) admit() error {
	if !c.t.latch.latched(c.project) {
		return nil
	}

	if c.req.Body != nil {
		c.req.Body.Close()
	}
	c.class = Billing
	c.t.metrics.latchRejected(c.action)
	return c.refuse(ErrBillingLatched)
}

// refuse ends the call before anything was sent, with err.
func (c *call) refuse(err error) error {
	c.t.metrics.finished(c.action, outcomeRejected, c.class, 0, c.t.clock.Now().Sub(c.start))

	e := &Error{Class: c.class, Action: c.action, Err: err}
	c.giveUpOn = "refused before sending"
	c.giveUp(e)
	return e
}

// send makes one attempt.
func (c *call) send() (*http.Response, error) {
	r, err := c.attemptRequest()
	if err != nil {
		c.prepErr = err
		return nil, err
	}

	resp, err := c.t.next.RoundTrip(r)
	c.attempts++
	resp, err = normalize(resp, err)
	if err != nil && c.cancel != nil && context.Cause(c.sendCtx) == errAttemptTimeout {
		err = fmt.Errorf("%w: %w", errAttemptTimeout, err)
	}

	if cancel := c.cancel; cancel != nil {
		c.stopTimer()
		if resp == nil {
			cancel(nil)
		} else {
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
		}
	}
	return resp, err
}

// normalize mends answers that break the RoundTripper contract, as
// http.Client does: a response with an error is dropped (its body closed),
// neither is an error, and a nil body is an empty one.
func normalize(resp *http.Response, err error) (*http.Response, error) {
	switch {
	case resp != nil && err != nil:
		if resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	case resp == nil && err == nil:
		return nil, errNoResponse
	case err == nil && resp.Body == nil:
		resp.Body = http.NoBody
	}
	return resp, err
}

// errNoResponse stands for a wrapped transport that returned neither a
// response nor an error.
var errNoResponse = errors.New("kmsretry: the wrapped transport returned no response and no error")

// errAttemptTimeout is the cause of a send's context cancelled by the
// policy's AttemptTimeout.
var errAttemptTimeout = fmt.Errorf("kmsretry: attempt timed out: %w", context.DeadlineExceeded)

// attemptRequest returns the request of the next send: the caller's own when
// nothing needs to change, else a shallow copy with the send's body,
// context and credentials. The caller's request is never written to.
func (c *call) attemptRequest() (*http.Request, error) {
	body, err := c.nextBody()
	if err != nil {
		return nil, fmt.Errorf("kmsretry: GetBody for a resend: %w", err)
	}

	r, err := c.copyRequest(body)
	if err != nil {
		// The body was never handed to a transport: close it here.
		if c.cancel != nil {
			c.stopTimer()
			c.cancel(nil)
		}
		switch {
		case body != nil:
			body.Close()
		case c.attempts == 0 && c.req.Body != nil:
			c.req.Body.Close()
		}
		return nil, err
	}
	return r, nil
}

// copyRequest returns the request of the next send with body (nil keeps the
// request's own), the send's context and fresh credentials.
func (c *call) copyRequest(body io.ReadCloser) (*http.Request, error) {
	c.sendCtx, c.cancel = c.ctx, nil
	if body == nil && c.timeout <= 0 && c.t.gate == nil {
		return c.req, nil
	}

	if c.timeout > 0 {
		c.startTimer()
	}
	r := c.req.WithContext(c.sendCtx)
	if body != nil {
		r.Body = body
	}

	if g := c.t.gate; g != nil {
		r.Header = c.req.Header.Clone()
		if r.Header == nil {
			r.Header = http.Header{}
		}
		c.sentGens = g.generations()
		prev := r.Body
		if err := g.r.Apply(r); err != nil {
			return nil, fmt.Errorf("kmsretry: applying credentials: %w", err)
		}
		if prev != nil && r.Body != prev {
			prev.Close() // replaced by Apply: nobody else will close it
		}
	}
	return r, nil
}

// finish returns the final outcome: the last answer with a nil error when
// there is one, else an *Error for the failure.
func (c *call) finish(resp *http.Response, err error) (*http.Response, error) {
	var d time.Duration
	if c.t.metrics != nil {
		d = c.t.clock.Now().Sub(c.start)
	}

	// A resend that could not be prepared leaves the answer in hand.
	if c.prepErr != nil && c.last != nil {
		resp, err = c.last, nil
	}

	if err == nil && resp.StatusCode < 400 {
		c.t.budget.succeeded(c.spent)
		c.t.metrics.succeeded(c.action, c.attempts, d)
		return resp, nil
	}

	if err == nil {
		e := c.newError(nil)
		e.Status, e.Code = resp.StatusCode, c.code
		e.Message, e.RequestID = c.answer.Message, c.answer.RequestID
		remember(resp, e)
		c.t.metrics.finished(c.action, outcomeError, c.class, c.attempts, d)
		c.giveUp(e)
		return resp, nil
	}

	discard(c.last)
	err = scrub(err, c.req.URL)
	switch {
	case c.waitErr != nil:
		c.fail = failNever // the caller gave up, not the policy
		err = fmt.Errorf("%w while waiting to resend; the last send failed: %w", c.waitErr, err)
	case c.unknown:
		err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	e := c.newError(err)
	c.t.metrics.finished(c.action, outcomeFailed, e.Class, c.attempts, d)
	c.giveUp(e)
	return nil, e
}

// newError returns an *Error with what every kind of failure shares.
func (c *call) newError(err error) *Error {
	class := c.class
	if err != nil && c.fail == failNever {
		class = Unknown
	}
	return &Error{Class: class, Action: c.action, Attempts: c.attempts, Err: err}
}

// giveUp reports the end of a failed request.
func (c *call) giveUp(e *Error) {
	c.t.emit(c.req, Event{Kind: EventGiveUp, Action: c.action, Code: e.Code,
		Status: e.Status, Class: e.Class, Attempt: c.attempts, Reason: c.giveUpOn, Err: e.Err})
}

// startTimer gives the next send its own context, cancelled with
// errAttemptTimeout if no answer comes within the policy's AttemptTimeout.
// The timer stops when the answer's headers arrive, so that the body can be
// read at leisure; closing the body cancels the context.
func (c *call) startTimer() {
	ctx, cancel := context.WithCancelCause(c.ctx)
	c.sendCtx, c.cancel = ctx, cancel
	c.timer = time.AfterFunc(c.timeout, func() { cancel(errAttemptTimeout) })
}

// stopTimer stops the current send's timer, if it has one.
func (c *call) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}
