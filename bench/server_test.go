package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reqBody is a typical encrypt-data request: a key id and a short
// plaintext, about 100 bytes.
var reqBody = []byte(`{"key_id":"0d0466b0-e727-4d9c-b35d-f84bb474a37f",` +
	`"plain_text":"card=4111111111111111;exp=12/29"}`)

// okBody is a typical encrypt-data answer.
var okBody = []byte(`{"key_id":"0d0466b0-e727-4d9c-b35d-f84bb474a37f","cipher_text":` +
	`"AgDoAKxbvRqbjCYqfBJEk7fCizBhLHvbqNQlhMvxt2K6iGtO4BmMuK0dNzM0ZDRkZS1kMGM0LTQ5ODMt` +
	`YmVkNi1lNjA1ZTk4NGU2MjIAAAAA5cwC2WqyJfa1Dq1dWw+rnlOq8FzaWT1OD2tYgNiGpeKqn3NQ6n5d"}`)

// failBody is KMS.0101 as KMS sends it: a nested body with status 500.
var failBody = []byte(`{"error":{"error_code":"KMS.0101",` +
	`"error_msg":"Failed to encrypt data. System error."}}`)

// seqHeader carries a number unique to each logical request, so that the
// one-retry server can fail its first attempt and serve the second.
const seqHeader = "X-Bench-Seq"

// Loopback servers answering like KMS, started by TestMain.
var (
	okSrv     *httptest.Server // always 200
	onceSrv   *httptest.Server // 500 KMS.0101 on a request's first attempt, then 200
	alwaysSrv *httptest.Server // always 500 KMS.0101
)

func TestMain(m *testing.M) {
	okSrv = httptest.NewServer(http.HandlerFunc(serveOK))
	onceSrv = httptest.NewServer(&failOnce{})
	alwaysSrv = httptest.NewServer(http.HandlerFunc(serveFail))

	code := m.Run()

	pooled.CloseIdleConnections()
	okSrv.Close()
	onceSrv.Close()
	alwaysSrv.Close()
	os.Exit(code)
}

// pooled is the one connection pool every contender sends through.
var pooled = newPooled()

func newPooled() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = time.Minute
	return t
}

var okLen = strconv.Itoa(len(okBody))
var failLen = strconv.Itoa(len(failBody))

func serveOK(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	answer(w, http.StatusOK, okBody, okLen)
}

func serveFail(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	answer(w, http.StatusInternalServerError, failBody, failLen)
}

// answer writes a KMS answer with the headers KMS sends.
func answer(w http.ResponseWriter, status int, body []byte, n string) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json;charset=UTF-8"}
	h["Content-Length"] = []string{n}
	h["X-Request-Id"] = []string{"7c1f4e9a0b2d4c6e8f1a3b5d7e9f0a2c"}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// failOnce fails the first attempt of every logical request, told apart by
// seqHeader, and serves the second. It remembers only requests in flight.
type failOnce struct {
	seen sync.Map // seq -> struct{}
}

func (f *failOnce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)

	if f.first(r.Header.Get(seqHeader)) {
		answer(w, http.StatusInternalServerError, failBody, failLen)
		return
	}
	answer(w, http.StatusOK, okBody, okLen)
}

// first reports whether seq is new, and forgets it when it is not.
func (f *failOnce) first(seq string) bool {
	if _, again := f.seen.LoadAndDelete(seq); again {
		return false
	}
	f.seen.Store(seq, struct{}{})
	return true
}

// seq numbers logical requests for failOnce.
var seq atomic.Uint64
