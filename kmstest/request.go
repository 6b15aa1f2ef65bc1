package kmstest

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// decode parses a JSON request body into v. An empty body counts as an empty object.
func decode(body []byte, v any) *kmsError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return failf("KMS.0202", "The request body is not valid JSON: %v.", err)
	}
	return nil
}

// number is a numeric request field. The vendor's API sends numbers as JSON strings, such as
// "512"; some clients send JSON numbers, and both are accepted.
type number struct {
	set  bool
	text string
}

// UnmarshalJSON accepts a JSON string or number; null leaves the field unset.
func (n *number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}

	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*n = number{set: true, text: s}
		return nil
	}

	var num json.Number
	if err := json.Unmarshal(b, &num); err != nil {
		return err
	}
	*n = number{set: true, text: num.String()}
	return nil
}

// int returns the field as an integer, reporting false when it is not one.
func (n number) int() (int, bool) {
	v, err := strconv.Atoi(n.text)
	return v, err == nil
}

// parseContext returns the canonical form of an encryption_context object, whose members
// must all be strings, or nil when there is none. It is bound to the ciphertext, so the same
// context must be given to decrypt.
func parseContext(raw json.RawMessage) ([]byte, *kmsError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}

	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fail("KMS.0208")
	}
	if len(m) == 0 {
		return nil, nil
	}
	return mustJSON(m), nil
}
