package kmstest

import (
	"bytes"
	"maps"
	"net/http"
	"sync"
)

// Stats is a snapshot of the server's counters. The maps are copies the caller may keep.
type Stats struct {
	// Requests counts the requests received per action, whatever their answer. Requests to
	// paths that name no action are not counted.
	Requests map[string]int

	// Applied counts per action the requests whose action took effect: keys created, data
	// encrypted, and so on. A request answered by a fault with [Fault.AfterEffect] counts.
	Applied map[string]int

	// Faults counts the injected faults per name, as [Fault.String] gives it.
	Faults map[string]int
}

// Record describes one exchange, as passed to the hook of [WithHook].
type Record struct {
	// RequestID is the X-Request-Id sent with the answer, or "" when none was sent.
	RequestID string

	// Action is the action named by the path, or "" when the path names none.
	Action string

	// Method and Path are the request's method and URL path.
	Method string
	Path   string

	// Header and Body are copies of the request's headers and body.
	Header http.Header
	Body   []byte

	// Status is the HTTP status answered, or 0 when the connection was dropped.
	Status int

	// Code is the error code answered, or "" for a success or a page with no code.
	Code string

	// Fault names the injected fault, or is "" when none was.
	Fault string

	// Applied reports whether the action took effect.
	Applied bool
}

// recorder holds the counters and the latest request of each action.
type recorder struct {
	mu       sync.Mutex
	requests map[string]int
	applies  map[string]int
	faults   map[string]int
	bodies   map[string][]byte
	headers  map[string]http.Header
}

func newRecorder() *recorder {
	return &recorder{
		requests: make(map[string]int),
		applies:  make(map[string]int),
		faults:   make(map[string]int),
		bodies:   make(map[string][]byte),
		headers:  make(map[string]http.Header),
	}
}

func (r *recorder) received(action string, h http.Header, body []byte) {
	h, body = h.Clone(), bytes.Clone(body)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[action]++
	r.bodies[action] = body
	r.headers[action] = h
}

func (r *recorder) applied(action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applies[action]++
}

func (r *recorder) injected(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[name]++
}

// count returns m[key], or the sum of m when key is "".
func (r *recorder) count(m map[string]int, key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key != "" {
		return m[key]
	}

	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return Stats{
		Requests: maps.Clone(s.stats.requests),
		Applied:  maps.Clone(s.stats.applies),
		Faults:   maps.Clone(s.stats.faults),
	}
}

// Requests returns how many requests of action were received, or of all actions when action
// is "".
func (s *Server) Requests(action string) int {
	return s.stats.count(s.stats.requests, action)
}

// Applied returns how many requests of action took effect, or of all actions when action is
// "".
func (s *Server) Applied(action string) int {
	return s.stats.count(s.stats.applies, action)
}

// Injected returns how many faults named name were injected, or how many faults of any name
// when name is "". Names are those of [Fault.String]: a code, "html" or "drop".
func (s *Server) Injected(name string) int {
	return s.stats.count(s.stats.faults, name)
}

// LastBody returns a copy of the body of the latest request of action, or nil when none came.
func (s *Server) LastBody(action string) []byte {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return bytes.Clone(s.stats.bodies[action])
}

// LastHeader returns a copy of the headers of the latest request of action, or nil when none
// came.
func (s *Server) LastHeader(action string) http.Header {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.headers[action].Clone()
}
