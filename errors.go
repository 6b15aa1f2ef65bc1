package kmsretry

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"unicode"
	"weak"
)

// Sentinel errors, one per class and one per way the transport can refuse or
// lose a request. Test for them with errors.Is on any error this package
// returns or builds, including through *url.Error from an http.Client.
var (
	// ErrRetryable: a transient fault outlasted its retry policy.
	ErrRetryable = errors.New("kmsretry: transient KMS failure; retries exhausted")

	// ErrAuthRefresh: credentials were rejected and could not be renewed.
	ErrAuthRefresh = errors.New("kmsretry: KMS rejected the credentials")

	// ErrBilling: the account is frozen; renew it before calling again.
	ErrBilling = errors.New("kmsretry: KMS account frozen for billing")

	// ErrFatal: the request itself is wrong and will not succeed on retry.
	ErrFatal = errors.New("kmsretry: KMS refused the request")

	// ErrThrottled: the rate limit outlasted the throttling policy.
	ErrThrottled = errors.New("kmsretry: KMS throttled the request; retries exhausted")

	// ErrOutcomeUnknown: the request may have been applied, but the
	// connection failed before an answer came, and the action is not safe to
	// send again. Check the resource's state before repeating it.
	ErrOutcomeUnknown = errors.New("kmsretry: outcome unknown: the request may have been " +
		"applied; check the resource before repeating it")

	// ErrBillingLatched: an earlier answer for the same project id was a
	// billing code, so the request was not sent.
	ErrBillingLatched = errors.New("kmsretry: not sent: the project's account is frozen " +
		"for billing; renew it, then wait for the cool-down")
)

var classErrors = [...]error{
	Retryable:   ErrRetryable,
	AuthRefresh: ErrAuthRefresh,
	Billing:     ErrBilling,
	Fatal:       ErrFatal,
	Throttled:   ErrThrottled,
}

// Error describes a KMS request that failed: by an error answer, by a
// network failure that outlasted its retries, or by refusal to send. Use
// errors.As to get one and errors.Is with the Err… sentinels to test it.
type Error struct {
	// Status is the HTTP status of the last answer, or 0 if none came.
	Status int

	// Code is the KMS or gateway code of the last answer, or "".
	Code string

	// Class is the class the transport gave the last answer or failure.
	Class Class

	// Message is the server's message, or the catalogue's English one.
	Message string

	// RequestID is the last answer's request id, for the vendor's support.
	RequestID string

	// Action is the KMS action of the request, such as "encrypt-data".
	Action string

	// Attempts is how many times the request was sent.
	Attempts int

	// Err is the network failure or refusal behind the error, if any.
	Err error
}

// Error returns a one-line description with what to do next. It never holds
// the request's URL, query, headers or body.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kmsretry: ")
	b.WriteString(e.Action)

	switch {
	case e.Code != "":
		fmt.Fprintf(&b, ": %s (HTTP %d, %s)", e.Code, e.Status, e.Class)
	case e.Status != 0:
		fmt.Fprintf(&b, ": HTTP %d with no KMS code (%s)", e.Status, e.Class)
	}
	if msg := strings.TrimRight(oneLine(e.Message), ". "); msg != "" {
		fmt.Fprintf(&b, ": %s", msg)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %s", strings.TrimPrefix(e.Err.Error(), "kmsretry: "))
	}

	switch e.Attempts {
	case 0:
	case 1:
		b.WriteString(" (1 attempt)")
	default:
		fmt.Fprintf(&b, " (%d attempts)", e.Attempts)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	if ent, ok := Lookup(e.Code); ok && ent.Remedy != "" {
		fmt.Fprintf(&b, "; %s", ent.Remedy)
	}
	return b.String()
}

// Unwrap returns the failure behind the error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of the error's class.
func (e *Error) Is(target error) bool {
	if e.Class <= Unknown || int(e.Class) >= len(classErrors) {
		return false
	}
	return target == classErrors[e.Class]
}

// ResponseError turns a final response into an *Error, or returns nil for a
// response below 400. For a response that came through a [Transport] it
// carries the class and attempt count the transport saw; for any other it
// decodes the body (which stays readable) and classifies the code with the
// default catalogue.
func ResponseError(resp *http.Response) error {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}

	if known, ok := recall(resp); ok {
		e := *known
		return &e
	}

	eb := DecodeError(resp)
	e := &Error{
		Status:    resp.StatusCode,
		Code:      eb.Code,
		Class:     defaultRules.classify(resp.StatusCode, eb.Code),
		Message:   eb.Message,
		RequestID: eb.RequestID,
		Attempts:  1,
	}
	if resp.Request != nil && resp.Request.URL != nil {
		e.Action, _ = Action(resp.Request.URL.Path)
	}
	return e
}

// oneLine replaces the control characters of a server's message, newlines
// among them, with spaces, so that an error stays on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// answers holds what the transport learned of each error answer it
// returned, for ResponseError. It is keyed by the response itself, not its
// body, because middlewares and http.Client wrap the body; an entry goes
// when its response is garbage collected.
var answers sync.Map // weak.Pointer[http.Response] -> *Error

// remember keeps e as what the transport learned of resp.
func remember(resp *http.Response, e *Error) {
	key := weak.Make(resp)
	answers.Store(key, e)
	runtime.AddCleanup(resp, func(k weak.Pointer[http.Response]) { answers.Delete(k) }, key)
}

// recall returns what the transport learned of resp, if it returned it.
func recall(resp *http.Response) (*Error, bool) {
	v, ok := answers.Load(weak.Make(resp))
	if !ok {
		return nil, false
	}
	return v.(*Error), true
}
