package kmsretry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenServer answers KMS.0303 to any token but the current one.
type tokenServer struct {
	*httptest.Server
	mu      sync.Mutex
	current string
	hits    atomic.Int64
	stale   atomic.Int64
}

func newTokenServer(t *testing.T, current string) *tokenServer {
	t.Helper()

	s := &tokenServer{current: current}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		cur := s.current
		s.mu.Unlock()

		if r.Header.Get("X-Auth-Token") != cur {
			s.stale.Add(1)
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"error_code":"KMS.0303","error_msg":"token expired"}}`))
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestRefreshThenRetry(t *testing.T) {
	srv := newTokenServer(t, "fresh")
	var fetches atomic.Int32
	r := NewTokenRefresher("expired", func(context.Context) (string, error) {
		fetches.Add(1)
		return "fresh", nil
	})
	var events []Event
	tr := New(nil, WithRefresher(r, 0), WithClock(newFakeClock()),
		WithHook(func(e Event) { events = append(events, e) }))

	resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/encrypt-data", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if len(events) != 2 || events[0].Kind != EventRefresh || events[0].Code != "KMS.0303" ||
		events[1].Kind != EventRetry || events[1].Class != AuthRefresh {
		t.Errorf("events = %+v, want a KMS.0303 refresh then an auth-refresh retry", events)
	}
	if resp.StatusCode != 200 || srv.hits.Load() != 2 || fetches.Load() != 1 {
		t.Errorf("status %d hits %d fetches %d, want 200 2 1",
			resp.StatusCode, srv.hits.Load(), fetches.Load())
	}
}

func TestRefreshStormRunsOnce(t *testing.T) {
	srv := newTokenServer(t, "fresh")
	var fetches atomic.Int32
	release := make(chan struct{})
	r := NewTokenRefresher("expired", func(context.Context) (string, error) {
		fetches.Add(1)
		<-release
		return "fresh", nil
	})
	base := &http.Transport{MaxIdleConnsPerHost: 200}
	defer base.CloseIdleConnections()
	tr := New(base, WithRefresher(r, 0), WithClock(newFakeClock()))

	const n = 200
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/decrypt-data", `{}`))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}

	// Let every request meet the expired token before the refresh ends.
	for srv.stale.Load() < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()

	if got := fetches.Load(); got != 1 {
		t.Errorf("refreshes = %d, want 1", got)
	}
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d ended with %d", i, c)
		}
	}
}

func TestRefreshLimits(t *testing.T) {
	tests := []struct {
		name    string
		fetch   func(ctx context.Context) (string, error)
		timeout time.Duration
		hits    int64
		status  int
	}{
		{"server rejects the new token too", func(context.Context) (string, error) {
			return "still-wrong", nil
		}, 0, 2, 403},
		{"refresh fails", func(context.Context) (string, error) {
			return "", errors.New("iam down")
		}, 0, 1, 403},
		{"refresh hangs past its timeout", func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		}, 10 * time.Millisecond, 1, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTokenServer(t, "fresh")
			tr := New(nil, WithRefresher(NewTokenRefresher("x", tt.fetch), tt.timeout),
				WithClock(newFakeClock()))

			resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/encrypt-data", `{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			if resp.StatusCode != tt.status || srv.hits.Load() != tt.hits {
				t.Errorf("status %d hits %d, want %d %d",
					resp.StatusCode, srv.hits.Load(), tt.status, tt.hits)
			}
			if !errors.Is(ResponseError(resp), ErrAuthRefresh) {
				t.Errorf("ResponseError = %v, want ErrAuthRefresh", ResponseError(resp))
			}
		})
	}
}

func TestRefreshOutlivesCancelledCaller(t *testing.T) {
	srv := newTokenServer(t, "fresh")
	started := make(chan struct{})
	release := make(chan struct{})
	var fetchErr atomic.Value
	r := NewTokenRefresher("expired", func(ctx context.Context) (string, error) {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			fetchErr.Store(err)
		}
		return "fresh", nil
	})
	tr := New(nil, WithRefresher(r, 0), WithClock(newFakeClock()))

	// The first caller starts the refresh, then gives up.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/encrypt-data", `{}`).
			WithContext(ctx))
		if err != nil {
			t.Error(err)
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-started
	cancel()
	if code := <-done; code != 403 {
		t.Errorf("cancelled caller got %d, want the 403 in hand", code)
	}

	// A second caller shares the same refresh, which still succeeds.
	go func() {
		time.Sleep(10 * time.Millisecond)
		close(release)
	}()
	resp, err := tr.RoundTrip(post(t, srv.URL+"/v1.0/p/kms/encrypt-data", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if resp.StatusCode != 200 || fetchErr.Load() != nil {
		t.Errorf("second caller got %d; refresh context error %v", resp.StatusCode, fetchErr.Load())
	}
}

// importRefresher renews an import token kept in the request body.
type importRefresher struct {
	token   atomic.Value // string
	renewed atomic.Int32
}

func (r *importRefresher) Apply(req *http.Request) error {
	body := `{"import_token":"` + r.token.Load().(string) + `"}`
	req.Body = io.NopCloser(strings.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(body)), nil
	}
	req.ContentLength = int64(len(body))
	return nil
}

func (r *importRefresher) Refresh(_ context.Context, code string) error {
	if code != "KMS.2601" && code != "KMS.2605" {
		return ErrNotRefreshable
	}
	r.renewed.Add(1)
	r.token.Store("fresh-import")
	return nil
}

func TestRefreshByCredentialFamily(t *testing.T) {
	t.Run("token refresher leaves import codes alone", func(t *testing.T) {
		srv := newKMSServer(t, kms("KMS.2601", 400), ok())
		var fetches atomic.Int32
		m := metricsForTest(t)
		tr := New(nil, WithClock(newFakeClock()), WithMetrics(m),
			WithRefresher(NewTokenRefresher("t", func(context.Context) (string, error) {
				fetches.Add(1)
				return "t2", nil
			}), 0))

		resp, err := tr.RoundTrip(post(t, srv.url("import-key-material"), `{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()

		if resp.StatusCode != 400 || srv.hits.Load() != 1 || fetches.Load() != 0 {
			t.Errorf("status %d hits %d fetches %d, want 400 1 0",
				resp.StatusCode, srv.hits.Load(), fetches.Load())
		}
		if got := counterValue(t, m.refreshes, "failure"); got != 0 {
			t.Errorf("refresh failures = %v, want 0", got)
		}
	})

	t.Run("import refresher puts a fresh token in the body", func(t *testing.T) {
		srv := newKMSServer(t, kms("KMS.2605", 400), ok())
		r := &importRefresher{}
		r.token.Store("stale-import")
		tr := New(nil, WithClock(newFakeClock()), WithRefresher(r, 0))

		req := post(t, srv.url("import-key-material"), `{}`)
		body := &countingBody{Reader: strings.NewReader(`{}`)}
		req.Body = body // Apply replaces it; it must still be closed once
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := body.closes.Load(); n != 1 {
			t.Errorf("caller's body closed %d times, want 1", n)
		}

		got := srv.received()
		if resp.StatusCode != 200 || len(got) != 2 || r.renewed.Load() != 1 ||
			string(got[0]) != `{"import_token":"stale-import"}` ||
			string(got[1]) != `{"import_token":"fresh-import"}` {
			t.Errorf("status %d, bodies %q, renewals %d", resp.StatusCode, got, r.renewed.Load())
		}
	})
}
