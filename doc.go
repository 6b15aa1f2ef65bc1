// Package kmsretry makes HTTP clients of Huawei Cloud's Key Management
// Service (KMS) survive the service's failures.
//
// A [Transport] wraps any [net/http.RoundTripper]: a plain http.Client's, the
// vendor's Go SDK's, or go-retryablehttp's. For each error answer it reads
// the KMS error body (nested {"error":{"error_code":"KMS.0303",...}} from KMS,
// flat {"error_code":"APIGW.0308",...} from the API gateway), sorts the code
// into a [Class] with the built-in catalogue of every documented code, and
// acts on the class:
//
//	Retryable    KMS.0101, 0102, 0323, 1108, 5xx without a code: back off, retry
//	Throttled    HTTP 429, APIGW.0308: wait (honouring Retry-After), retry
//	AuthRefresh  KMS.0301-0303, 2601, 2605, APIGW.0301: refresh once, retry
//	Billing      KMS.0320, 0328: never retried; the project fails fast a while
//	Fatal        every other documented code: returned at once
//
// Each class has its own [Policy]; [DefaultPolicy] gives the defaults. The
// final answer always reaches the caller with its body readable; use
// [ResponseError] to turn it into an [*Error].
//
// Wrapping a client needs no options:
//
//	client := &http.Client{Transport: kmsretry.New(nil)}
//
// Metrics are opt-in: create them on a registry of yours with [NewMetrics]
// and pass them with [WithMetrics]. Nothing is registered globally and
// nothing is logged unless [WithLogger] or [WithHook] is given.
//
// The package kmstest holds a KMS stand-in for tests, with fault injection.
package kmsretry
