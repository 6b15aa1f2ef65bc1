package kmsretry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Refresher renews the credentials of requests after an [AuthRefresh]
// answer: a bad or expired IAM token (KMS.0301-0303, APIGW.0301), or a stale
// import token (KMS.2601, KMS.2605). Without one, AuthRefresh answers are
// final.
type Refresher interface {
	// Apply puts the current credentials on req before each send. req is
	// the transport's own copy with its own Header, so Apply may set
	// headers; it may also replace Body and GetBody together, which is how
	// a fresh import token gets into an import-key-material body.
	Apply(req *http.Request) error

	// Refresh fetches new credentials for the answer code, such as
	// "KMS.0303". However many requests fail at once, the transport runs one
	// Refresh at a time for IAM tokens and one for import tokens, and lets
	// every request that failed with the old credentials wait for it. ctx is
	// not cancelled when one of those callers gives up; it ends after the
	// refresh timeout. Refresh returns [ErrNotRefreshable] for codes it
	// does not handle: the answer is then final, and no failure is counted.
	Refresh(ctx context.Context, code string) error
}

// ErrNotRefreshable is returned by a [Refresher] for an answer code whose
// credentials it does not manage.
var ErrNotRefreshable = errors.New("kmsretry: the refresher does not renew these credentials")

// importFamily and tokenFamily index the two kinds of credentials.
const (
	tokenFamily = iota
	importFamily
	numFamilies
)

// family returns which kind of credentials code says are stale.
func family(code string) int {
	if code == "KMS.2601" || code == "KMS.2605" {
		return importFamily
	}
	return tokenFamily
}

var familyKeys = [numFamilies]string{tokenFamily: "token", importFamily: "import"}

// TokenRefresher is a [Refresher] for IAM token users: it sets X-Auth-Token on
// every request and calls Fetch for a new token when KMS says the old one
// is invalid or expired.
type TokenRefresher struct {
	// Fetch returns a new token, for example from IAM's token API.
	Fetch func(ctx context.Context) (string, error)

	mu    sync.RWMutex
	token string
}

// NewTokenRefresher returns a TokenRefresher that starts with token (which
// may be "" to fetch one at the first AuthRefresh answer) and renews it with
// fetch.
func NewTokenRefresher(token string, fetch func(context.Context) (string, error)) *TokenRefresher {
	return &TokenRefresher{Fetch: fetch, token: token}
}

// Apply sets X-Auth-Token to the current token, if there is one.
func (r *TokenRefresher) Apply(req *http.Request) error {
	r.mu.RLock()
	tok := r.token
	r.mu.RUnlock()

	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	return nil
}

// Refresh fetches and keeps a new token. Import-token codes (KMS.2601,
// KMS.2605) get [ErrNotRefreshable]: a new IAM token does not mend them.
func (r *TokenRefresher) Refresh(ctx context.Context, code string) error {
	if family(code) != tokenFamily {
		return ErrNotRefreshable
	}

	tok, err := r.Fetch(ctx)
	if err != nil {
		return err
	}
	if tok == "" {
		return errors.New("kmsretry: token fetch returned an empty token")
	}

	r.mu.Lock()
	r.token = tok
	r.mu.Unlock()
	return nil
}

// DefaultRefreshTimeout bounds one shared refresh when [WithRefresher] is
// given no timeout.
const DefaultRefreshTimeout = 30 * time.Second

// refreshGate runs refreshes one at a time per family of credentials and
// counts them in generations: a request that was sent with credentials
// older than the current generation retries with the new ones instead of
// refreshing again.
type refreshGate struct {
	r       Refresher
	timeout time.Duration
	group   singleflight.Group
	gens    [numFamilies]atomic.Uint64

	// done, if set, learns the code and result of every refresh that ran.
	done func(code string, err error)
}

// newGate returns a gate running r's refreshes, each bounded by timeout (0
// means DefaultRefreshTimeout), reporting each result to done.
func newGate(r Refresher, timeout time.Duration, done func(string, error)) *refreshGate {
	if timeout <= 0 {
		timeout = DefaultRefreshTimeout
	}
	return &refreshGate{r: r, timeout: timeout, done: done}
}

// generations returns the number of successful refreshes so far, per family.
func (g *refreshGate) generations() [numFamilies]uint64 {
	var out [numFamilies]uint64
	for i := range out {
		out[i] = g.gens[i].Load()
	}
	return out
}

// refresh renews the credentials code says are stale, unless they changed
// since sent. It returns when the refresh ends or ctx is done, whichever comes
// first; the refresh itself goes on for the other callers.
func (g *refreshGate) refresh(ctx context.Context, code string, sent [numFamilies]uint64) error {
	f := family(code)
	gen := &g.gens[f]
	if gen.Load() != sent[f] {
		return nil
	}

	ch := g.group.DoChan(familyKeys[f], func() (any, error) {
		if gen.Load() != sent[f] {
			return nil, nil // another flight finished while this one queued
		}

		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
		defer cancel()

		err := g.r.Refresh(rctx, code)
		if errors.Is(err, ErrNotRefreshable) {
			return nil, err
		}
		if g.done != nil {
			g.done(code, err)
		}
		if err != nil {
			return nil, fmt.Errorf("kmsretry: credential refresh failed: %w", err)
		}
		gen.Add(1)
		return nil, nil
	})

	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}
