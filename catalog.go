package kmsretry

import (
	"slices"
	"strings"
)

// Entry is one documented error code: what the service answers, what it means
// and what to do about it.
type Entry struct {
	// Code is the code as it appears on the wire, such as "KMS.0207" or
	// "APIGW.0308".
	Code string

	// Status is the HTTP status the service documents for the code.
	Status int

	// Class is the default class of the code.
	Class Class

	// Message says in English what went wrong.
	Message string

	// Remedy says in English what the caller should do.
	Remedy string

	// MessageZH and RemedyZH keep the vendor's original Chinese text. They
	// are empty for gateway codes, which the vendor documents in English.
	MessageZH string
	RemedyZH  string
}

// catalogue maps every documented code to its entry. It is built once from
// catalogEntries and never written after.
var catalogue = func() map[string]Entry {
	m := make(map[string]Entry, len(catalogEntries))
	for _, e := range catalogEntries {
		m[e.Code] = e
	}
	return m
}()

// Lookup returns the catalogue entry of code. Gateway codes are accepted with
// either prefix, "APIGW." or the older "APIG.". It reports false for a code
// the catalogue does not hold.
func Lookup(code string) (Entry, bool) {
	e, ok := catalogue[canonicalCode(code)]
	return e, ok
}

// Classify returns the default class of code, or [Unknown] when the
// catalogue does not hold it. A [Transport] may move codes to other classes
// with [WithClass]; Classify ignores that.
func Classify(code string) Class {
	e, _ := Lookup(code)
	return e.Class
}

// Entries returns a copy of the whole catalogue, sorted by code: the 97 KMS
// codes followed by the API gateway's codes.
func Entries() []Entry {
	out := slices.Clone(catalogEntries)
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Code, b.Code) })
	return out
}
