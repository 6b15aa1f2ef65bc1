package kmstest_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/kmsretry/kmsretry/kmstest"
)

// A script makes the first two calls fail with a retryable code; the third is served.
func ExampleServer_Script() {
	s := kmstest.NewServer()
	defer s.Close()
	s.Script("gen-random", kmstest.Code("KMS.0101"), kmstest.Code("KMS.0101"))

	for range 3 {
		body := strings.NewReader(`{"random_data_length":"512"}`)
		resp, err := s.Client().Post(s.ActionURL("my-project", "gen-random"), "application/json",
			body)
		if err != nil {
			fmt.Println(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	fmt.Println("requests:", s.Requests("gen-random"), "applied:", s.Applied("gen-random"))
	// Output:
	// 500
	// 500
	// 200
	// requests: 3 applied: 1
}

// A throttled answer comes from the gateway: a flat body, status 429 and Retry-After.
func ExampleThrottle() {
	s := kmstest.NewServer(kmstest.WithScript("", kmstest.Throttle("0")))
	defer s.Close()

	resp, err := s.Client().Post(s.ActionURL("p", "list-keys"), "application/json", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"))
	fmt.Println(strings.Contains(string(body), `"error_code":"APIGW.0308"`))
	// Output:
	// 429 0
	// true
}
