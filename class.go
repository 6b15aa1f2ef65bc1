package kmsretry

// Class is the kind of failure a KMS answer stands for. The transport picks a
// [Policy] by class: whether to retry, how often, and how long to wait.
type Class int

// The classes, in the order the transport checks them.
const (
	// Unknown is the class of a code the catalogue does not hold, and of a
	// successful answer. The transport never acts on it directly: an answer
	// with an unknown code is classified by its HTTP status instead.
	Unknown Class = iota

	// Retryable marks a transient server fault (KMS.0101, KMS.0102, KMS.0323,
	// KMS.1108, a 5xx with no code, a network failure): back off and retry.
	Retryable

	// AuthRefresh marks stale credentials (KMS.0301-0303, KMS.2601, KMS.2605,
	// APIGW.0301): refresh them once through the [Refresher], then retry.
	AuthRefresh

	// Billing marks a frozen account (KMS.0320, KMS.0328): never retried.
	Billing

	// Fatal marks a request that will fail the same way however often it is
	// sent: bad input, missing key, no permission. Never retried.
	Fatal

	// Throttled marks a rate limit (HTTP 429, APIGW.0308): wait, honouring
	// Retry-After, then retry.
	Throttled
)

// Classes lists every class the transport acts on, in a fixed order.
var Classes = []Class{Retryable, AuthRefresh, Billing, Fatal, Throttled}

var classNames = [...]string{
	Unknown:     "unknown",
	Retryable:   "retryable",
	AuthRefresh: "auth-refresh",
	Billing:     "billing",
	Fatal:       "fatal",
	Throttled:   "throttled",
}

// String returns the class's name as used in metric labels and logs:
// "retryable", "auth-refresh", "billing", "fatal", "throttled" or "unknown".
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// ParseClass returns the class named s, as printed by [Class.String]. It
// reports false for any other name.
func ParseClass(s string) (Class, bool) {
	for c, name := range classNames {
		if name == s && Class(c) != Unknown {
			return Class(c), true
		}
	}
	return Unknown, false
}
