package retryablekms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/kmsretry/kmsretry"
)

var _ retryablehttp.CheckRetry = CheckRetry

// CheckRetry is a [retryablehttp.CheckRetry] that decides by the KMS code of
// each answer. Its checks run in a fixed order and the first that applies
// decides:
//
//  1. The request's context is done: stop, with the context's error.
//  2. A network failure: see below.
//  3. A success (below 400): stop; the answer is the caller's.
//  4. An error answer is classified like kmsretry.ResponseError does:
//     Retryable (KMS.0101, a 5xx with no code such as an HTML 502 from a
//     proxy, ...) and Throttled (429, APIGW.0308) are retried; Billing,
//     Fatal and AuthRefresh stop, with a nil error, so that the caller gets
//     the answer itself.
//
// Reading the code does not consume the answer: its body is replaced by one
// that serves the whole original body again, byte for byte, to retryablehttp
// when it drains the answer or to the caller when it is the last one.
//
// AuthRefresh answers (KMS.0301-0303, KMS.2601, KMS.2605) are final here,
// although kmsretry.Transport retries them once: retryablehttp has no hook
// that sees the rejected answer and can renew credentials before the next
// send (PrepareRetry sees only the request). Renew them and call again, or
// use kmsretry.Transport with a Refresher instead of this package.
//
// A network failure leaves resp nil, and retryablehttp does not pass the
// request. CheckRetry first asks [retryablehttp.DefaultRetryPolicy], which
// refuses certificate, scheme, header and redirect errors. What it would
// retry is resent only if the request never left (a failed dial or name
// lookup) or its action is kmsretry.Safe, judged by the method and URL
// that net/http puts in the *url.Error it returns. Otherwise the request
// may have been applied, and CheckRetry stops with an error that wraps
// kmsretry.ErrOutcomeUnknown: check the resource's state before sending it
// again. An error that is not a *url.Error names no action and is treated as
// unsafe.
//
// An error beside an answer comes from the request's response handler (see
// [retryablehttp.Request.SetResponseHandler]), which runs only when
// CheckRetry has already declined to retry. The answer arrived, so the
// request was applied: a success is resent only for a Safe action, and an
// error answer is final.
func CheckRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	// The caller gave up: never resend behind its back.
	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	// No answer, or one a response handler rejected.
	if err != nil {
		return checkFailure(ctx, resp, err)
	}

	// A success needs no retry.
	if resp.StatusCode < http.StatusBadRequest {
		return false, nil
	}

	// The class of the code decides; the cautious answer is to stop.
	var kerr *kmsretry.Error
	if !errors.As(kmsretry.ResponseError(resp), &kerr) {
		return false, nil
	}
	switch kerr.Class {
	case kmsretry.Retryable, kmsretry.Throttled:
		return true, nil
	default:
		return false, nil
	}
}

// checkFailure is CheckRetry on a failed send. resp is nil unless a
// response handler returned err.
func checkFailure(ctx context.Context, resp *http.Response, err error) (bool, error) {
	// What retryablehttp would not retry, neither do we.
	if retry, _ := retryablehttp.DefaultRetryPolicy(ctx, resp, err); !retry {
		return false, nil
	}

	// A response handler rejected an answer that was applied.
	if resp != nil {
		safe := resp.Request != nil && kmsretry.ActionSafety(resp.Request) == kmsretry.Safe
		return resp.StatusCode < http.StatusBadRequest && safe, nil
	}

	// The request never reached the server: sending it again is harmless.
	if notSent(err) {
		return true, nil
	}

	// It may have been applied: resend it only if that is harmless.
	req := failedRequest(err)
	if req != nil && kmsretry.ActionSafety(req) == kmsretry.Safe {
		return true, nil
	}
	return false, outcomeUnknown(req, err)
}

// notSent reports whether err says the request never left the client: the
// server's name did not resolve or the connection could not be opened.
func notSent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}

	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// failedRequest rebuilds the method and URL of the request behind err from
// the *url.Error net/http returned, or returns nil if there is none. Its Op
// is the method with only the first letter upper case, such as "Post".
func failedRequest(err error) *http.Request {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return nil
	}

	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return nil
	}
	return &http.Request{Method: strings.ToUpper(ue.Op), URL: u}
}

// outcomeUnknown is the error of a failed send that must not be repeated. It
// keeps the cause but not the *url.Error around it, whose text holds the
// URL and its query.
func outcomeUnknown(req *http.Request, err error) error {
	action := "unknown action"
	if req != nil {
		action, _ = kmsretry.Action(req.URL.Path)
	}

	for {
		ue, ok := err.(*url.Error)
		if !ok || ue.Err == nil {
			break
		}
		err = ue.Err
	}
	return fmt.Errorf("retryablekms: not resending %s: %w: %w", action,
		kmsretry.ErrOutcomeUnknown, err)
}
