package kmstest

// Option configures a [Server] built by [NewServer].
type Option func(*config)

// config holds what the options set. Its zero value is not used: [NewServer] starts from
// seed 1 and applies the options on top.
type config struct {
	seed   int64
	token  bool
	hook   func(Record)
	setups []func(*Server)
}

// WithSeed seeds the source that fault rates draw from. Two servers with the same seed, the
// same rates and the same requests sent one at a time inject the same faults. The default
// seed is 1.
func WithSeed(seed int64) Option {
	return func(c *config) { c.seed = seed }
}

// WithToken makes every request carry a valid X-Auth-Token issued by [Server.IssueToken],
// unless it is signed with AK/SK. A missing token answers KMS.0301, an unknown one KMS.0302
// and an expired one KMS.0303, all with status 403.
func WithToken() Option {
	return func(c *config) { c.token = true }
}

// WithHook calls fn once per request with a record of the exchange, before the answer is
// sent. It runs on the request's goroutine, so fn must be safe for concurrent use and should
// return quickly.
func WithHook(fn func(Record)) Option {
	return func(c *config) { c.hook = fn }
}

// WithScript queues faults for action from the start, as [Server.Script] does.
func WithScript(action string, faults ...Fault) Option {
	return func(c *config) {
		c.setups = append(c.setups, func(s *Server) { s.Script(action, faults...) })
	}
}

// WithRate sets the probability of a fault from the start, as [Server.SetRate] does.
func WithRate(action string, f Fault, p float64) Option {
	return func(c *config) {
		c.setups = append(c.setups, func(s *Server) { s.SetRate(action, f, p) })
	}
}
