package kmstest_test

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/kmsretry/kmsretry/kmstest"
)

func TestURLs(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(s.URL) {
		t.Fatalf("URL %q is not http://127.0.0.1:port", s.URL)
	}
	want := s.URL + "/v1.0/p1/kms/encrypt-data"
	if got := s.ActionURL("p1", "encrypt-data"); got != want {
		t.Fatalf("ActionURL = %q, want %q", got, want)
	}
}

func TestAnyProjectID(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	for _, p := range []string{"a", project, "0123456789"} {
		t.Run(p, func(t *testing.T) {
			body := strings.NewReader(`{"random_data_length":"512"}`)
			resp, err := s.Client().Post(s.ActionURL(p, "gen-random"), "application/json", body)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := make(map[string]bool)
	for range 50 {
		r := post(t, s, "describe-key", `{"key_id":"bad"}`)
		id := r.Header.Get("X-Request-Id")
		if !hexID.MatchString(id) || seen[id] {
			t.Fatalf("request id %q is malformed or repeated", id)
		}
		seen[id] = true
	}
}

func TestRouting(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
		flat                     bool
	}{
		{"no version", "POST", "/kms/encrypt-data", "{}", 404, "APIGW.0101", true},
		{"no project", "POST", "/v1.0//kms/encrypt-data", "{}", 404, "APIGW.0101", true},
		{"no action", "POST", "/v1.0/p/kms/", "{}", 404, "APIGW.0101", true},
		{"v2 path", "POST", "/v2/p/kms/regions", "{}", 404, "APIGW.0101", true},
		{"unknown action", "POST", "/v1.0/p/kms/rotate-everything", "{}", 400, "KMS.0201", false},
		{"nested action", "POST", "/v1.0/p/kms/keys/x", "{}", 400, "KMS.0201", false},
		{"wrong method", "GET", "/v1.0/p/kms/list-keys", "", 400, "KMS.0201", false},
		{"bad JSON", "POST", "/v1.0/p/kms/list-keys", "{", 400, "KMS.0202", false},
		{"not an object", "POST", "/v1.0/p/kms/list-keys", "[1]", 400, "KMS.0202", false},
		{"trailing data", "POST", "/v1.0/p/kms/list-keys", "{}{}", 400, "KMS.0202", false},
		{"empty body", "POST", "/v1.0/p/kms/list-keys", "", 200, "", false},
		{"too long", "POST", "/v1.0/p/kms/list-keys", strings.Repeat(" ", 1<<20+1), 400,
			"KMS.0203", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			r := reply{resp.StatusCode, resp.Header, buf.Bytes()}

			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			id := r.Header.Get("X-Request-Id")
			if id == "" {
				t.Errorf("no X-Request-Id")
			}
			if tt.flat {
				if got := str(t, r, "error_code"); r.Status != tt.status || got != tt.code {
					t.Fatalf("got %d %q, want %d %q", r.Status, got, tt.status, tt.code)
				}
				if got := str(t, r, "request_id"); got != id {
					t.Fatalf("request_id %q, header %q", got, id)
				}
				return
			}
			if tt.code == "" {
				wantOK(t, r)
				return
			}
			wantCode(t, r, tt.code, tt.status)
		})
	}
}

func TestClose(t *testing.T) {
	s := kmstest.NewServer()
	wantOK(t, post(t, s, "list-keys", "{}"))

	s.Close()
	s.Close()

	if _, err := do(s, "list-keys", "{}"); err == nil {
		t.Fatal("a request to a closed server succeeded")
	}
}
