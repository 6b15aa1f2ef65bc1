package kmsretry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

// New wraps the transport of an http.Client. Here the KMS stand-in answers the first
// encrypt-data with KMS.0101, an internal error; the transport waits and sends it again,
// and the caller sees only the success.
func ExampleNew() {
	srv := kmstest.NewServer()
	defer srv.Close()
	client := &http.Client{Transport: kmsretry.New(srv.Client().Transport)}

	keyID := exampleKey(client, srv)
	srv.Script("encrypt-data", kmstest.Code("KMS.0101"))

	url := srv.ActionURL("my-project", "encrypt-data")
	body := fmt.Sprintf(`{"key_id":%q,"plain_text":"hello"}`, keyID)
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	fmt.Println(resp.StatusCode)
	fmt.Println("sent:", srv.Requests("encrypt-data"))
	// Output:
	// 200
	// sent: 2
}

// WithPolicy replaces the policy of one class; zero fields keep the class's defaults. Here
// throttled requests may be sent six times, transient faults only twice, both with short
// waits. When the attempts run out the last answer is returned, and ResponseError says why.
func ExampleWithPolicy() {
	srv := kmstest.NewServer()
	defer srv.Close()

	short := func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) }
	tr := kmsretry.New(srv.Client().Transport,
		kmsretry.WithPolicy(kmsretry.Throttled, kmsretry.Policy{MaxAttempts: 6, Backoff: short}),
		kmsretry.WithPolicy(kmsretry.Retryable, kmsretry.Policy{MaxAttempts: 2, Backoff: short}),
	)
	client := &http.Client{Transport: tr}
	random := func() *http.Response {
		url := srv.ActionURL("my-project", "gen-random")
		resp, err := client.Post(url, "application/json",
			strings.NewReader(`{"random_data_length":"512"}`))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp
	}

	throttle := kmstest.Throttle("")
	srv.Script("gen-random", throttle, throttle, throttle, throttle)
	resp := random()
	fmt.Println("throttled 4 times:", resp.StatusCode, "after", srv.Requests("gen-random"), "sends")

	srv.Script("gen-random", kmstest.Code("KMS.0101"), kmstest.Code("KMS.0101"))
	resp = random()
	err := kmsretry.ResponseError(resp)
	fmt.Println("failed twice:", resp.StatusCode, errors.Is(err, kmsretry.ErrRetryable))
	fmt.Println("retryable attempts:", tr.Policy(kmsretry.Retryable).MaxAttempts)
	fmt.Println("default elapsed bound:", tr.Policy(kmsretry.Retryable).MaxElapsed)
	// Output:
	// throttled 4 times: 200 after 5 sends
	// failed twice: 500 true
	// retryable attempts: 2
	// default elapsed bound: 15s
}

// A TokenRefresher puts an IAM token on every request and fetches a new one when KMS says
// the old one is no good. Here the stand-in requires tokens, and the first one has expired:
// the transport refreshes it once and sends the request again.
func ExampleTokenRefresher() {
	srv := kmstest.NewServer(kmstest.WithToken())
	defer srv.Close()
	old := srv.IssueToken()
	srv.ExpireTokens()

	tokens := kmsretry.NewTokenRefresher(old, func(ctx context.Context) (string, error) {
		return srv.IssueToken(), nil // a real Fetch calls IAM's token API
	})
	var refreshes atomic.Int32
	tr := kmsretry.New(srv.Client().Transport,
		kmsretry.WithRefresher(tokens, 0),
		kmsretry.WithHook(func(ev kmsretry.Event) {
			if ev.Kind == kmsretry.EventRefresh && ev.Err == nil {
				refreshes.Add(1)
			}
		}),
	)
	client := &http.Client{Transport: tr}

	url := srv.ActionURL("my-project", "list-keys")
	resp, err := client.Post(url, "application/json", strings.NewReader(`{}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	fmt.Println(resp.StatusCode)
	fmt.Println("refreshes:", refreshes.Load(), "sent:", srv.Requests("list-keys"))
	// Output:
	// 200
	// refreshes: 1 sent: 2
}

// NewMetrics registers the transport's collectors with a registry of the caller's. Here one
// request meets KMS.0102 once; the registry then holds the error answer, the retry, the
// request's outcome and its two attempts.
func ExampleNewMetrics() {
	srv := kmstest.NewServer()
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m, err := kmsretry.NewMetrics(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	short := func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) }
	tr := kmsretry.New(srv.Client().Transport, kmsretry.WithMetrics(m),
		kmsretry.WithPolicy(kmsretry.Retryable, kmsretry.Policy{Backoff: short}))
	client := &http.Client{Transport: tr}

	srv.Script("gen-random", kmstest.Code("KMS.0102"))
	url := srv.ActionURL("my-project", "gen-random")
	body := `{"random_data_length":"512"}`
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range families {
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, lp := range s.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			switch mf.GetName() {
			case "kmsretry_error_responses_total", "kmsretry_retries_total",
				"kmsretry_requests_total":
				fmt.Println(mf.GetName(), labels, s.GetCounter().GetValue())
			case "kmsretry_attempts_per_request":
				fmt.Println(mf.GetName(), labels, "sum", s.GetHistogram().GetSampleSum())
			}
		}
	}
	// Output:
	// kmsretry_attempts_per_request [action=gen-random] sum 2
	// kmsretry_error_responses_total [action=gen-random class=retryable code=KMS.0102] 1
	// kmsretry_requests_total [action=gen-random class=none outcome=success] 1
	// kmsretry_retries_total [action=gen-random class=retryable code=KMS.0102] 1
}

// ResponseError turns a final error answer into an *Error, which errors.As and errors.Is
// understand; the answer's body stays readable. Here describe-key names a key that does not
// exist: KMS.0207 is fatal, so the transport returns it after one attempt.
func ExampleResponseError() {
	srv := kmstest.NewServer()
	defer srv.Close()
	client := &http.Client{Transport: kmsretry.New(srv.Client().Transport)}

	url := srv.ActionURL("my-project", "describe-key")
	body := `{"key_id":"0d0466b0-e727-4d9c-b35d-f84bb474a37f"}`
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	err = kmsretry.ResponseError(resp)
	var kerr *kmsretry.Error
	if errors.As(err, &kerr) {
		fmt.Println(kerr.Status, kerr.Code, kerr.Class, "after", kerr.Attempts, "attempt")
		fmt.Println(kerr.Message)
		fmt.Println("request id kept:", kerr.RequestID == resp.Header.Get("X-Request-Id"))
	}
	fmt.Println("fatal:", errors.Is(err, kmsretry.ErrFatal))
	fmt.Println("retryable:", errors.Is(err, kmsretry.ErrRetryable))
	fmt.Println("sent:", srv.Requests("describe-key"))
	// Output:
	// 404 KMS.0207 fatal after 1 attempt
	// The key does not exist.
	// request id kept: true
	// fatal: true
	// retryable: false
	// sent: 1
}

// exampleKey creates a master key on srv and returns its id.
func exampleKey(client *http.Client, srv *kmstest.Server) string {
	url := srv.ActionURL("my-project", "create-key")
	resp, err := client.Post(url, "application/json", strings.NewReader(`{"key_alias":"example"}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()

	var out struct {
		KeyInfo struct {
			KeyID string `json:"key_id"`
		} `json:"key_info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		panic(err)
	}
	return out.KeyInfo.KeyID
}
