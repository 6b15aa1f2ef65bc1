package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

// lossRisk is the chance the demo accepts of losing any record at all in one run.
const lossRisk = 1e-3

// attemptsFor returns how many attempts a call needs so that, when each attempt fails on
// its own with probability p, the chance that any of calls calls fails every attempt stays
// below lossRisk: the smallest n with calls·pⁿ ≤ lossRisk, and at least floor.
//
// At the default 20% fault rate and 2,000 records (8,000 calls), the default of 4 attempts
// would lose about 8000·0.2⁴ ≈ 13 records, and 8 attempts still 0.02 of one on average;
// 10 attempts bring the chance of losing any record down to 8000·0.2¹⁰ ≈ 0.0008. The bound
// is cautious: it counts every fault against one class, while each class counts its own
// attempts and only some of the faults belong to any one class.
func attemptsFor(p float64, calls, floor int) int {
	if p <= 0 {
		return floor
	}

	n := math.Ceil(math.Log(lossRisk/float64(calls)) / math.Log(p))
	return max(floor, min(int(n), 30))
}

// authShare is the share of injected faults that are expired tokens (KMS.0303).
const authShare = 0.05

// transportOptions returns the policies of the demo's transports for a fault rate p and a
// workload of records records.
//
// Waits start at 5 ms instead of 100 ms, so that the run ends in seconds; a real service
// needs the defaults. Retryable and Throttled answers get enough attempts for p (see
// attemptsFor). AuthRefresh gets enough for the injected expiries, plus one for the
// scheduled ones that every request in flight at that moment meets.
//
// The retry budget is the default. A request that succeeds after retries gives back the
// tokens they took, so only requests that fail for good drain it: with these attempts none
// does up to a fault rate of about 0.65, and the budget stays full. From about 0.7 a few
// requests use up their attempts, the tokens held by the retries in flight do the rest, and
// the budget empties and refuses retries, as it should in an outage.
func transportOptions(p float64, records int) []kmsretry.Option {
	calls := records * callsPerRecord
	short := func() backoff.BackOff {
		return backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(5*time.Millisecond),
			backoff.WithMaxInterval(80*time.Millisecond),
			backoff.WithMaxElapsedTime(0),
		)
	}
	defaults := func(c kmsretry.Class) int { return kmsretry.DefaultPolicy(c).MaxAttempts }
	auth := 1 + attemptsFor(p*authShare, calls, defaults(kmsretry.AuthRefresh))

	return []kmsretry.Option{
		kmsretry.WithPolicy(kmsretry.Retryable, kmsretry.Policy{
			MaxAttempts: attemptsFor(p, calls, defaults(kmsretry.Retryable)),
			Backoff:     short,
		}),
		kmsretry.WithPolicy(kmsretry.Throttled, kmsretry.Policy{
			MaxAttempts: attemptsFor(p, calls, defaults(kmsretry.Throttled)),
			Backoff:     short,
		}),
		kmsretry.WithPolicy(kmsretry.AuthRefresh, kmsretry.Policy{MaxAttempts: auth}),
	}
}

// metrics returns kmsretry's collectors, registered under the label phase so that the
// phases keep apart on one registry.
func (d *demo) metrics(phase string) (*kmsretry.Metrics, error) {
	labels := prometheus.Labels{"phase": phase}
	return kmsretry.NewMetrics(prometheus.WrapRegistererWith(labels, d.reg))
}

// client returns an HTTP client for srv whose transport is kmsretry with the demo's
// policies, then opts, and the credentials its transport renews.
func (d *demo) client(srv *kmstest.Server, opts ...kmsretry.Option) (*http.Client, *credentials) {
	creds := newCredentials(srv)
	refresh := kmsretry.WithRefresher(creds, time.Second)
	opts = slices.Concat(d.policy, opts, []kmsretry.Option{refresh})

	c := &http.Client{Transport: kmsretry.New(srv.Client().Transport, opts...)}
	d.clients = append(d.clients, c)
	return c, creds
}

// kms calls KMS actions on the stand-in through a client.
type kms struct {
	http *http.Client
	srv  *kmstest.Server
}

// call sends action for project with the JSON of in and decodes the answer into out, which
// may be nil. A final error answer is returned as the [*kmsretry.Error] it stands for.
func (k kms) call(ctx context.Context, project, action string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	url := k.srv.ActionURL(project, action)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")

	resp, err := k.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	if err := kmsretry.ResponseError(resp); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: decoding the answer: %w", action, err)
	}
	return nil
}

// createKey creates a master key with alias for project and returns its id.
func (k kms) createKey(ctx context.Context, project, alias string) (string, error) {
	var out struct {
		KeyInfo struct {
			KeyID string `json:"key_id"`
		} `json:"key_info"`
	}
	err := k.call(ctx, project, "create-key", map[string]string{"key_alias": alias}, &out)
	return out.KeyInfo.KeyID, err
}
