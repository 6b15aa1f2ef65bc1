package kmsretry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// failure says what a network failure means for a resend.
type failure int

const (
	// failNever: do not resend: TLS trust failures, invalid requests, the
	// caller's own cancellation, errors the transport does not recognise.
	failNever failure = iota

	// failNotSent: the request never left (dial refused, DNS): resend.
	failNotSent

	// failAmbiguous: the request may have been applied (reset, EOF).
	failAmbiguous

	// failTimeout: the attempt's own timeout fired; also ambiguous.
	failTimeout
)

// kindLabels are the values of the kind label of transport errors.
var kindLabels = [...]string{
	failNever:     "other",
	failNotSent:   "not_sent",
	failAmbiguous: "ambiguous",
	failTimeout:   "timeout",
}

// classifyFailure sorts a RoundTrip error. attempt is the send's context,
// parent the caller's. The checks run in order; the cautious default is not
// to resend.
func classifyFailure(err error, attempt, parent context.Context) failure {
	// The caller gave up: never resend behind its back.
	if parent.Err() != nil {
		return failNever
	}

	// The send's own deadline fired: the server may be working on it.
	if attempt.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		return failTimeout
	}

	// A certificate the client does not trust will not become trusted.
	var (
		certErr  *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		validErr x509.CertificateInvalidError
	)
	if errors.As(err, &certErr) || errors.As(err, &authErr) ||
		errors.As(err, &hostErr) || errors.As(err, &validErr) {
		return failNever
	}

	// A name that does not resolve or a dial that failed sent nothing.
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return failNotSent
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return failNotSent
	}

	// A connection lost after the request went out: it may have arrived.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) {
		return failAmbiguous
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return failTimeout
	}
	if opErr != nil {
		return failAmbiguous
	}

	// Anything else (a malformed request, say) fails the same way again.
	return failNever
}

// stripURL keeps the request's URL and query out of an error's text, so that
// an error the transport keeps or logs cannot leak them. A *url.Error on the
// outside is unwrapped; one deeper in the chain has its URL blanked out of
// the text, while errors.Is and errors.As still reach everything inside.
func stripURL(err error) error {
	for {
		ue, ok := err.(*url.Error)
		if !ok || ue.Err == nil {
			break
		}
		err = ue.Err
	}

	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}

	msg := err.Error()
	for ue != nil {
		if ue.URL != "" {
			msg = strings.ReplaceAll(msg, ue.URL, "[URL removed]")
		}
		inner := ue.Err
		ue = nil
		if inner != nil {
			errors.As(inner, &ue)
		}
	}
	return &redacted{err: err, msg: msg}
}

// redacted is an error whose text has had URLs removed.
type redacted struct {
	err error
	msg string
}

// Error returns the text with URLs removed.
func (e *redacted) Error() string { return e.msg }

// Unwrap returns the error as it was.
func (e *redacted) Unwrap() error { return e.err }

// scrub keeps the request's URL out of an error's text, wherever the wrapped
// transport put it: *url.Error wrappers are handled by stripURL, and any
// other mention of the URL or its query is blanked out.
func scrub(err error, u *url.URL) error {
	err = stripURL(err)
	if err == nil || u == nil {
		return err
	}

	msg := err.Error()
	clean := strings.ReplaceAll(msg, u.String(), "[URL removed]")
	if u.RawQuery != "" {
		clean = strings.ReplaceAll(clean, u.RawQuery, "[query removed]")
	}
	if clean == msg {
		return err
	}
	return &redacted{err: err, msg: clean}
}
