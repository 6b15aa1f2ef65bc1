package kmsretry

import (
	"errors"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// again decides, after a send, whether to send once more, and waits before
// it if so. It keeps the outcome that finish will return.
func (c *call) again(resp *http.Response, err error) bool {
	if c.prepErr != nil {
		return c.stop("the next send could not be prepared")
	}
	if err != nil {
		return c.afterFailure(err)
	}

	discard(c.last)
	c.last, c.fail, c.unknown = resp, failNever, false
	if resp.StatusCode < 400 {
		c.class, c.code = Unknown, ""
		return false
	}

	eb := DecodeError(resp)
	c.class = c.t.rules.classify(resp.StatusCode, eb.Code)
	c.code, c.answer = eb.Code, eb
	c.t.metrics.answered(c.action, eb.Code, c.class)
	release(resp)

	switch c.class {
	case Billing:
		c.t.latch.engage(c.project)
		return c.stop("billing answers are never retried")
	case AuthRefresh:
		return c.refreshAndRetry()
	case Retryable, Throttled:
		return c.retry(c.class, c.t.budgetCost(false), resp)
	}
	return c.stop("fatal answers are never retried")
}

// afterFailure decides on a send that got no answer.
func (c *call) afterFailure(err error) bool {
	c.fail = classifyFailure(err, c.sendCtx, c.ctx)
	c.class, c.code, c.unknown = Retryable, "network", false
	discard(c.last)
	c.last = nil
	c.t.metrics.failedSend(c.action, c.fail)

	switch {
	case c.fail == failNever:
		c.class = Unknown
		return c.stop("the failure is not one a resend can mend")
	case !c.replayable:
		return c.stop("the request body cannot be sent again")
	case c.fail != failNotSent && ActionSafety(c.req) != Safe:
		c.class, c.unknown = Unknown, true
		return c.stop("the action is not safe to repeat after an ambiguous failure")
	}
	return c.retry(Retryable, c.t.budgetCost(true), nil)
}

// refreshAndRetry renews credentials once and resends at once.
func (c *call) refreshAndRetry() bool {
	g := c.t.gate
	if g == nil {
		return c.stop("no refresher is configured")
	}

	p := c.t.policies[AuthRefresh]
	c.perClass[AuthRefresh]++
	if c.perClass[AuthRefresh] >= p.MaxAttempts {
		return c.stop("credentials were rejected again after a refresh")
	}
	if c.t.clock.Now().Sub(c.start) > p.MaxElapsed {
		return c.stop("the policy's time limit has passed")
	}
	if !c.replayable {
		return c.stop("the request body cannot be sent again")
	}

	err := g.refresh(c.ctx, canonicalCode(c.code), c.sentGens)
	switch {
	case errors.Is(err, ErrNotRefreshable):
		return c.stop("the refresher does not renew these credentials")
	case err != nil:
		return c.stop("the credential refresh failed")
	}
	return c.resend(AuthRefresh, 0)
}

// retry waits as the class's policy says and resends, or gives up when a
// limit is reached. resp is the answer that caused it, nil after a failure.
func (c *call) retry(class Class, cost int, resp *http.Response) bool {
	p := c.t.policies[class]
	c.perClass[class]++
	if c.perClass[class] >= p.MaxAttempts {
		return c.stop("the policy's attempts are used up")
	}
	if !c.replayable {
		return c.stop("the request body cannot be sent again")
	}

	wait, why := c.wait(class, p, resp)
	if why != "" {
		return c.stop(why)
	}

	if !c.t.budget.take(cost) {
		c.t.metrics.budgetEmpty(c.action)
		return c.stop("the retry budget is empty")
	}
	c.spent += cost

	if err := c.t.clock.Sleep(c.ctx, wait); err != nil {
		c.waitErr = err
		return c.stop("the request's context ended during the wait")
	}
	return c.resend(class, wait)
}

// wait returns how long to wait before the next send of class, or why not to
// send it at all.
func (c *call) wait(class Class, p Policy, resp *http.Response) (time.Duration, string) {
	now := c.t.clock.Now()

	var wait time.Duration
	if ra, ok := retryAfter(headerOf(resp), now); ok {
		if ra > p.MaxRetryAfter {
			return 0, "Retry-After exceeds the policy's limit"
		}
		wait = ra
	} else {
		if c.backoffs[class] == nil {
			c.backoffs[class] = p.Backoff()
		}
		wait = c.backoffs[class].NextBackOff()
		if wait == backoff.Stop {
			return 0, "the backoff stopped"
		}
	}

	if now.Add(wait).Sub(c.start) > p.MaxElapsed {
		return 0, "the policy's time limit would pass"
	}
	if dl, ok := c.ctx.Deadline(); ok && !now.Add(wait).Before(dl) {
		return 0, "the request's deadline would pass"
	}
	return wait, ""
}

// resend records a retry of class and sets up the send that follows.
func (c *call) resend(class Class, wait time.Duration) bool {
	c.t.metrics.retried(c.action, c.code, class, wait)
	c.t.emit(c.req, Event{Kind: EventRetry, Action: c.action, Code: c.code,
		Status: statusOf(c.last), Class: class, Attempt: c.attempts, Wait: wait})

	if t := c.t.policies[class].AttemptTimeout; t > 0 {
		c.timeout = t
	}
	return true
}

// stop ends the retries for the reason given.
func (c *call) stop(reason string) bool {
	c.giveUpOn = reason
	return false
}

// budgetCost is what a retry takes from the retry budget: more after a
// network failure or timeout, which cost the service more than an answer.
func (t *Transport) budgetCost(noAnswer bool) int {
	if t.budget == nil {
		return 0
	}
	if noAnswer {
		return t.budget.cfg.TimeoutCost
	}
	return t.budget.cfg.RetryCost
}

func headerOf(resp *http.Response) http.Header {
	if resp == nil {
		return nil
	}
	return resp.Header
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
