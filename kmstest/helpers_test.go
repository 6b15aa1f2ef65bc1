package kmstest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/kmsretry/kmsretry/kmstest"
)

// project is the project id every test request names.
const project = "0f6b2a5c3d9e4b7f8a1c2d3e4f5a6b7c"

// reply is an answer as a test sees it.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// do posts body to action: a string or []byte as is, anything else encoded as JSON. Pairs
// of header names and values follow.
func do(s *kmstest.Server, action string, body any, header ...string) (reply, error) {
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}

	req, err := http.NewRequest(http.MethodPost, s.ActionURL(project, action), bytes.NewReader(raw))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}

	resp, err := s.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, data}, err
}

// post is do for the test's own goroutine: a failed exchange ends the test.
func post(t *testing.T, s *kmstest.Server, action string, body any, header ...string) reply {
	t.Helper()
	r, err := do(s, action, body, header...)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return r
}

// obj decodes a JSON object answer.
func obj(t *testing.T, r reply) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %q", r.Status, err, r.Body)
	}
	return m
}

// str returns the string at a path of keys in a JSON object answer, or "" when there is none.
func str(t *testing.T, r reply, path ...string) string {
	t.Helper()
	var v any = obj(t, r)
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

// code returns the error code of a nested KMS error body, or "" when there is none.
func code(t *testing.T, r reply) string {
	t.Helper()
	return str(t, r, "error", "error_code")
}

// wantOK ends the test unless r is a 200.
func wantOK(t *testing.T, r reply) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
	}
}

// wantCode ends the test unless r is a nested KMS error with code and status.
func wantCode(t *testing.T, r reply, wantCode string, wantStatus int) {
	t.Helper()
	if got := code(t, r); r.Status != wantStatus || got != wantCode {
		t.Fatalf("got %d %q, want %d %q: %s", r.Status, got, wantStatus, wantCode, r.Body)
	}
}

// createKey creates a key with alias and returns its id.
func createKey(t *testing.T, s *kmstest.Server, alias string) string {
	t.Helper()
	r := post(t, s, "create-key", map[string]string{"key_alias": alias})
	wantOK(t, r)
	return str(t, r, "key_info", "key_id")
}

// encrypt encrypts plain under keyID and returns the cipher_text.
func encrypt(t *testing.T, s *kmstest.Server, keyID, plain string) string {
	t.Helper()
	r := post(t, s, "encrypt-data", map[string]string{"key_id": keyID, "plain_text": plain})
	wantOK(t, r)
	return str(t, r, "cipher_text")
}

// alias returns a distinct valid key alias for i.
func alias(i int) string {
	return fmt.Sprintf("test/key-%03d", i)
}
