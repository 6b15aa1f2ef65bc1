package kmsretry

import (
	"errors"
	"io"
	"testing"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"documented code", &Error{Status: 404, Code: "KMS.0207", Class: Fatal,
			Message: "key not found.", RequestID: "r1", Action: "encrypt-data", Attempts: 1},
			"kmsretry: encrypt-data: KMS.0207 (HTTP 404, fatal): key not found (1 attempt) " +
				"[request id r1]; Check the key ID, or create the key first."},
		{"no code", &Error{Status: 502, Class: Retryable, Action: "decrypt-data", Attempts: 4},
			"kmsretry: decrypt-data: HTTP 502 with no KMS code (retryable) (4 attempts)"},
		{"outcome unknown", &Error{Action: "create-key", Attempts: 1,
			Err: errors.Join(ErrOutcomeUnknown, io.EOF)},
			"kmsretry: create-key: outcome unknown: the request may have been applied; " +
				"check the resource before repeating it\nEOF (1 attempt)"},
		{"latched", &Error{Class: Billing, Action: "encrypt-data", Err: ErrBillingLatched},
			"kmsretry: encrypt-data: not sent: the project's account is frozen for billing; " +
				"renew it, then wait for the cool-down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	for _, c := range Classes {
		e := &Error{Class: c}
		for _, other := range Classes {
			if got := errors.Is(e, classErrors[other]); got != (c == other) {
				t.Errorf("errors.Is(%v error, %v sentinel) = %v", c, other, got)
			}
		}
	}
	if errors.Is(&Error{Class: Unknown}, ErrFatal) {
		t.Error("an unclassified error matches ErrFatal")
	}
}
