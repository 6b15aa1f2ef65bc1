package retryablekms_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/retryablekms"
)

// A busy backend answers KMS.0101 once, which is retried; then the key turns
// out not to exist, which is final and reaches the caller whole.
func Example() {
	var sends atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sends.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":{"error_code":"KMS.0101","error_msg":"busy"}}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"error_code":"KMS.0207","error_msg":"no such key"}}`)
	}))
	defer srv.Close()

	client := retryablekms.NewClient()
	defer client.HTTPClient.CloseIdleConnections()

	body := strings.NewReader(`{"key_id":"k1","plain_text":"aGVsbG8="}`)
	req, _ := retryablehttp.NewRequest("POST", srv.URL+"/v1.0/p1/kms/encrypt-data", body)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	var kerr *kmsretry.Error
	if errors.As(kmsretry.ResponseError(resp), &kerr) {
		fmt.Println(sends.Load(), resp.StatusCode, kerr.Code, kerr.Class)
	}
	// Output: 2 404 KMS.0207 fatal
}
