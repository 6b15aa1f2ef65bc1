package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

// The outage step sends outageRequests requests one after another, and sums them up by
// blocks of outageBlock.
const (
	outageRequests = 300
	outageBlock    = 50
)

// outageAction is the action that the outage step sends and that answers KMS.0101 to every
// request meanwhile. Nothing else in the demo calls it.
const outageAction = "gen-random"

// outageOptions returns the options of the outage's transport, which follow the demo's
// policies: metrics m, the default retry budget and, for Retryable answers, the default
// policy with a tiny backoff, so that the step is over in a moment.
func outageOptions(m *kmsretry.Metrics) []kmsretry.Option {
	tiny := func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }
	return []kmsretry.Option{
		kmsretry.WithMetrics(m),
		kmsretry.WithPolicy(kmsretry.Retryable, kmsretry.Policy{Backoff: tiny}),
		kmsretry.WithRetryBudget(kmsretry.RetryBudget{}),
	}
}

// runOutage shows the retry budget in an outage: the stand-in answers every outageAction
// with KMS.0101 while k, whose transport has outageOptions, sends outageRequests requests,
// one after another. The first ones are sent as often as the policy allows; their failed
// retries drain the budget, and once it is empty every request is sent once. reg holds the
// transport's metrics. It returns an error if the budget did not behave so.
func runOutage(ctx context.Context, w io.Writer, k kms, reg prometheus.Gatherer) error {
	maxSends := k.http.Transport.(*kmsretry.Transport).Policy(kmsretry.Retryable).MaxAttempts
	k.srv.SetRate(outageAction, kmstest.Code("KMS.0101"), 1)
	defer k.srv.SetRate(outageAction, kmstest.Code("KMS.0101"), 0)

	fmt.Fprintf(w, "Outage: every %s answers KMS.0101. %d requests, one after another, "+
		"through a\ntransport with the default retry budget; the policy allows %d sends each.\n\n",
		outageAction, outageRequests, maxSends)
	o := &outage{kms: k, reg: reg}
	refused, err := o.sendAll(ctx, w)
	if err != nil {
		return fmt.Errorf("outage: reading the metrics: %w", err)
	}

	return errors.Join(append(o.bad, outageVerdict(w, o.sends, maxSends, refused))...)
}

// outage sends the requests of the outage step and keeps what became of them.
type outage struct {
	kms
	reg   prometheus.Gatherer
	sends []int   // how many times each request was sent
	bad   []error // requests that did not fail as the outage makes them
}

// sendAll sends the outage's requests and prints, for each block of them, how many times
// each was sent on average and how many retries the budget refused. It returns how many
// it refused in all.
func (o *outage) sendAll(ctx context.Context, w io.Writer) (float64, error) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "REQUESTS\tSENDS EACH\tRETRIES REFUSED BY THE BUDGET")

	start, err := o.refusals()
	last := start
	for len(o.sends) < outageRequests && err == nil {
		first := len(o.sends)
		for range outageBlock {
			o.send(ctx)
		}

		var now float64
		now, err = o.refusals()
		fmt.Fprintf(tw, "%d-%d\t%.2f\t%.0f\n", first+1, len(o.sends),
			float64(total(o.sends[first:]))/outageBlock, now-last)
		last = now
	}
	return last - start, err
}

// send sends one request and keeps how many times it was sent.
func (o *outage) send(ctx context.Context) {
	in := map[string]string{"random_data_length": "256"}
	before := o.srv.Requests(outageAction)
	err := o.call(ctx, tourProject, outageAction, in, nil)
	o.sends = append(o.sends, o.srv.Requests(outageAction)-before)

	var ke *kmsretry.Error
	if !errors.As(err, &ke) || ke.Code != "KMS.0101" || !errors.Is(err, kmsretry.ErrRetryable) {
		o.bad = append(o.bad, fmt.Errorf("outage request %d: %v", len(o.sends), err))
	}
}

// refusals reads from the registry how many retries the budgets of the tour refused.
func (o *outage) refusals() (float64, error) {
	ss, err := gather(o.reg, phaseTour)
	if err != nil {
		return 0, err
	}
	return ss.total("kmsretry_retry_budget_exhausted_total"), nil
}

// outageVerdict prints what the budget did and checks it: the sends of each request never
// rise, the first request was sent as often as the policy allows and the last once, and
// each request sent fewer times had one retry refused by the budget, as the metric counts.
func outageVerdict(w io.Writer, sends []int, maxSends int, refused float64) error {
	short := 0
	for _, n := range sends {
		if n < maxSends {
			short++
		}
	}

	fmt.Fprintf(w, "\noutage: %d requests sent %d times, then the budget ran dry; "+
		"it refused %.0f retries\n\n", len(sends)-short, maxSends, refused)
	falling := slices.IsSortedFunc(sends, func(a, b int) int { return b - a })
	if !falling || sends[0] != maxSends || sends[len(sends)-1] != 1 ||
		float64(short) != refused {
		return fmt.Errorf("outage: sends per request %v, %.0f retries refused", sends, refused)
	}
	return nil
}

// total adds up ns.
func total(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}
