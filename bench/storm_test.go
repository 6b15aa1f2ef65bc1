package bench

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsretry/kmsretry"
)

// stormSize is how many requests meet an expired token at once.
const stormSize = 1000

var expiredBody = []byte(`{"error":{"error_code":"KMS.0303",` +
	`"error_msg":"The token has expired."}}`)

// tokenServer accepts only its current token and answers KMS.0303 (403) to
// any other. It closes rejected once stormSize requests were refused.
type tokenServer struct {
	valid    atomic.Pointer[string]
	hits     atomic.Int64
	refused  atomic.Int64
	mu       sync.Mutex
	rejected chan struct{}
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.hits.Add(1)

	if r.Header.Get("X-Auth-Token") == *s.valid.Load() {
		answer(w, http.StatusOK, okBody, okLen)
		return
	}
	if s.refused.Add(1) == stormSize {
		s.mu.Lock()
		close(s.rejected)
		s.mu.Unlock()
	}
	answer(w, http.StatusForbidden, expiredBody, strconv.Itoa(len(expiredBody)))
}

// expire makes tok the only valid token and arms the next storm.
func (s *tokenServer) expire(tok string) {
	s.mu.Lock()
	s.rejected = make(chan struct{})
	s.mu.Unlock()
	s.refused.Store(0)
	s.valid.Store(&tok)
}

func (s *tokenServer) allRejected() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// BenchmarkRefreshStorm expires the token under stormSize concurrent
// requests through one Transport with a TokenRefresher. The token fetch
// returns only once every request has been refused, so that all of them
// wait on the refresh at once; the single-flight must run one refresh per
// storm, reported as refreshes/op.
func BenchmarkRefreshStorm(b *testing.B) {
	srv := &tokenServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	pool := newPooled()
	defer pool.CloseIdleConnections()

	var gen, fetches atomic.Int64
	fetch := func(ctx context.Context) (string, error) {
		fetches.Add(1)
		select {
		case <-srv.allRejected():
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "token-" + strconv.FormatInt(gen.Load(), 10), nil
	}
	kt := kmsretry.New(pool, kmsretry.WithRefresher(
		kmsretry.NewTokenRefresher("token-0", fetch), 30*time.Second))
	client := &http.Client{Transport: kt}
	url := ts.URL + kmsPath

	b.ReportAllocs()
	for b.Loop() {
		srv.expire("token-" + strconv.FormatInt(gen.Add(1), 10))
		if err := storm(client, url); err != nil {
			b.Fatal(err)
		}
	}

	storms := float64(b.N)
	b.ReportMetric(float64(fetches.Load())/storms, "refreshes/op")
	b.ReportMetric(float64(srv.hits.Load())/(storms*stormSize), "attempts/req")
}

// storm sends stormSize requests at once and waits for all of them.
func storm(c *http.Client, url string) error {
	var wg sync.WaitGroup
	errs := make(chan error, stormSize)
	for range stormSize {
		wg.Go(func() {
			resp, err := c.Post(url, "application/json", bytesReader())
			if err != nil {
				errs <- err
				return
			}
			drain(resp)
			if resp.StatusCode != http.StatusOK {
				errs <- errors.New("storm: status " + resp.Status)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
