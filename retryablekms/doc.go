// Package retryablekms teaches a go-retryablehttp client the failures of
// Huawei Cloud KMS. It is the alternative to wrapping the client's transport
// in a kmsretry.Transport: the retries stay retryablehttp's, and only the
// decisions become KMS-aware.
//
// [Configure] installs three policies on a *retryablehttp.Client, each
// usable alone:
//   - [CheckRetry] reads the KMS code of each error answer, as
//     kmsretry.ResponseError does, and retries the Retryable and Throttled
//     classes only. Billing, Fatal and AuthRefresh answers are final.
//     Network failures are resent only when the request never left, or
//     when its action is safe to repeat (kmsretry.ActionSafety).
//   - [Backoff] waits as long as a Retry-After header asks, up to
//     RetryWaitMax, and otherwise backs off exponentially with jitter.
//   - [ErrorHandler] returns the last answer, not an error, when the
//     retries run out, so the caller can read its body and its code.
//
// The three keep no state and are safe for concurrent use by any number of
// clients. Every answer the caller receives, success or not, has its body readable
// from the first byte; pass it to kmsretry.ResponseError to get the code.
//
// What this package cannot do, because retryablehttp gives it no means:
//   - renew credentials: no retryablehttp hook sees a rejected answer and
//     then runs before the next send, so AuthRefresh answers are final;
//   - see the request after a network failure: CheckRetry is given only
//     the error, and finds the method and path in the *url.Error that
//     net/http wraps every failure in. An error of any other type says
//     nothing about the action, which is then treated as unsafe.
//
// Do not also put a kmsretry.Transport under a client configured here: both
// would retry, and the attempts would multiply. docs/middleware.md shows
// how to combine the two.
package retryablekms
