package kmstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/kmsretry/kmsretry"
)

// Kind is the shape of the answer a [Fault] gives.
type Kind int

// The kinds of fault.
const (
	// KindKMS answers the nested KMS body {"error":{"error_code":...,"error_msg":...}}.
	KindKMS Kind = iota

	// KindGateway answers the API gateway's flat body
	// {"error_code":...,"error_msg":...,"request_id":...}.
	KindGateway

	// KindHTML answers an HTML error page from a proxy: no JSON, no code, no request id.
	KindHTML

	// KindDrop closes the connection once the request is read, with no answer at all.
	KindDrop
)

var kindNames = [...]string{
	KindKMS:     "kms",
	KindGateway: "gateway",
	KindHTML:    "html",
	KindDrop:    "drop",
}

// String returns the kind's name: "kms", "gateway", "html" or "drop".
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Fault is an answer the server gives instead of the real one. The constructors below cover
// the usual cases; a literal may combine the fields freely.
type Fault struct {
	// Kind is the shape of the answer.
	Kind Kind

	// Code is the error code answered by the kinds KMS and gateway.
	Code string

	// Status is the HTTP status. Zero means the status the catalogue documents for Code,
	// or 500 for a code it does not hold, and 502 for an HTML page.
	Status int

	// Message is the error message. Empty means the catalogue's message for Code.
	Message string

	// RetryAfter, when not empty, is sent as the Retry-After header.
	RetryAfter string

	// AfterEffect lets the action happen before the fault replaces its answer.
	AfterEffect bool
}

// String names the fault in [Stats.Faults]: its code, or "html" or "drop".
func (f Fault) String() string {
	switch f.Kind {
	case KindKMS, KindGateway:
		return f.Code
	}
	return f.Kind.String()
}

// Code returns a fault answering code with the status the catalogue documents for it. Gateway
// codes ("APIGW." or "APIG.") answer a flat gateway body, others the nested KMS body. It
// panics if the catalogue does not hold code; use [CodeWithStatus] for such codes.
func Code(code string) Fault {
	e, ok := kmsretry.Lookup(code)
	if !ok {
		panic("kmstest: Code: " + code + " is not in the catalogue; use CodeWithStatus")
	}
	return CodeWithStatus(code, e.Status)
}

// CodeWithStatus returns a fault answering any code, documented or not, with status.
// Gateway codes ("APIGW." or "APIG.") answer a flat gateway body, others the nested KMS body.
func CodeWithStatus(code string, status int) Fault {
	kind := KindKMS
	if isGateway(code) {
		kind = KindGateway
	}
	return Fault{Kind: kind, Code: code, Status: status}
}

// Throttle returns the gateway's rate limit: APIGW.0308 in a flat body with status 429. A
// non-empty retryAfter is sent as the Retry-After header; "0" keeps tests fast.
func Throttle(retryAfter string) Fault {
	return Fault{Kind: KindGateway, Code: "APIGW.0308", Status: 429, RetryAfter: retryAfter}
}

// BadGateway returns the gateway's answer for a backend that is down: APIGW.0201 in a flat
// body with status 502.
func BadGateway() Fault {
	return Fault{Kind: KindGateway, Code: "APIGW.0201", Status: 502}
}

// HTMLBadGateway returns a proxy's HTML page with status 502 and no request id.
func HTMLBadGateway() Fault {
	return Fault{Kind: KindHTML, Status: 502}
}

// Drop returns a fault that closes the connection once the request is read, before the
// action happens.
func Drop() Fault {
	return Fault{Kind: KindDrop}
}

// DropAfterEffect returns a fault that lets the action happen, then closes the connection
// with no answer: the client cannot tell whether its request took effect.
func DropAfterEffect() Fault {
	return Fault{Kind: KindDrop, AfterEffect: true}
}

func isGateway(code string) bool {
	return strings.HasPrefix(code, "APIGW.") || strings.HasPrefix(code, "APIG.")
}

// rate is a fault with the probability of its injection.
type rate struct {
	fault Fault
	p     float64
}

// faultPlan holds the scripted faults and rates of every action, "" meaning all actions.
type faultPlan struct {
	mu      sync.Mutex
	rng     *rand.Rand
	scripts map[string][]Fault
	rates   map[string][]rate
}

func newFaultPlan(seed int64) *faultPlan {
	return &faultPlan{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0)),
		scripts: make(map[string][]Fault),
		rates:   make(map[string][]rate),
	}
}

// next returns the fault for one request of action, if any, consuming a scripted one or
// drawing from the rates.
func (p *faultPlan) next(action string) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()

	for _, a := range []string{action, ""} {
		if q := p.scripts[a]; len(q) > 0 {
			p.scripts[a] = q[1:]
			return q[0], true
		}
	}

	rules := slices.Concat(p.rates[action], p.rates[""])
	if len(rules) == 0 {
		return Fault{}, false
	}

	u := p.rng.Float64()
	for _, r := range rules {
		if u < r.p {
			return r.fault, true
		}
		u -= r.p
	}
	return Fault{}, false
}

// Script queues faults for action, or for every action when action is "". Each request takes
// the next fault of its action's queue, or when that is empty of the "" queue, and is
// handled normally once both are empty. Calls append to the queues.
func (s *Server) Script(action string, faults ...Fault) {
	s.plan.mu.Lock()
	defer s.plan.mu.Unlock()
	s.plan.scripts[action] = append(s.plan.scripts[action], faults...)
}

// Pending returns how many scripted faults are still queued for action, "" naming the queue
// that serves every action.
func (s *Server) Pending(action string) int {
	s.plan.mu.Lock()
	defer s.plan.mu.Unlock()
	return len(s.plan.scripts[action])
}

// SetRate sets the probability p, between 0 and 1, that a request of action, or of any action
// when action is "", gets fault f once the scripts are empty. Setting a rate for an equal
// fault and action again replaces it; p 0 removes it. When the rates of one request add up to
// more than 1, the ones set last are starved. It panics if p is outside [0, 1].
func (s *Server) SetRate(action string, f Fault, p float64) {
	if math.IsNaN(p) || p < 0 || p > 1 {
		panic(fmt.Sprintf("kmstest: SetRate: probability %v is outside [0, 1]", p))
	}

	s.plan.mu.Lock()
	defer s.plan.mu.Unlock()

	rules := s.plan.rates[action]
	i := slices.IndexFunc(rules, func(r rate) bool { return r.fault == f })
	switch {
	case i >= 0 && p == 0:
		rules = slices.Delete(rules, i, i+1)
	case i >= 0:
		rules[i].p = p
	case p > 0:
		rules = append(rules, rate{fault: f, p: p})
	}
	s.plan.rates[action] = rules
}

// ClearFaults removes every scripted fault and rate. The seeded source goes on where it was.
func (s *Server) ClearFaults() {
	s.plan.mu.Lock()
	defer s.plan.mu.Unlock()
	clear(s.plan.scripts)
	clear(s.plan.rates)
}
