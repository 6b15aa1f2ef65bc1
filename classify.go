package kmsretry

import (
	"net/http"
	"strings"
)

// rules classifies answers: the catalogue plus a transport's own moves of
// codes to other classes.
type rules struct {
	moved map[string]Class
}

// defaultRules classifies with the catalogue alone.
var defaultRules = rules{}

// canonicalCode spells gateway codes with the current "APIGW." prefix.
func canonicalCode(code string) string {
	if rest, ok := strings.CutPrefix(code, "APIG."); ok {
		return "APIGW." + rest
	}
	return code
}

// classify returns the class of an answer with the given status and code.
// The checks run in a fixed order; the first that applies decides.
func (r rules) classify(status int, code string) Class {
	// A success is no failure at all.
	if status < 400 {
		return Unknown
	}

	// The user's own moves win over the catalogue.
	if c, ok := r.moved[canonicalCode(code)]; ok && code != "" {
		return c
	}

	// A documented code says exactly what happened.
	if c := Classify(code); c != Unknown {
		return c
	}

	// An unknown code, or none, falls back on the status. 429 is a rate
	// limit whoever sent it.
	if status == http.StatusTooManyRequests {
		return Throttled
	}

	// A 5xx with no code comes from a proxy or an overloaded backend, and
	// an undocumented code with a 5xx (KMS.0104, say) is a server fault.
	if status >= 500 {
		return Retryable
	}

	// Anything else is the caller's to fix: the cautious answer.
	return Fatal
}

// metricCode bounds a code for use as a metric label: documented codes stand
// for themselves, "" becomes "none" and any other code "unknown", so that a
// server inventing codes cannot create new series.
func metricCode(code string) string {
	if code == "" {
		return "none"
	}

	code = canonicalCode(code)
	if _, ok := catalogue[code]; ok {
		return code
	}
	return "unknown"
}
