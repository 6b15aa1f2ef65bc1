package kmstest_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kmsretry/kmsretry/kmstest"
)

func TestCreateAndDescribeKey(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	r := post(t, s, "create-key", map[string]string{
		"key_alias":       "app/orders",
		"key_description": "orders table",
	})
	wantOK(t, r)
	id := str(t, r, "key_info", "key_id")
	domain := str(t, r, "key_info", "domain_id")
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-` +
		`[0-9a-f]{12}$`)
	if !uuid.MatchString(id) || domain == "" {
		t.Fatalf("key_info %s", r.Body)
	}

	r = post(t, s, "describe-key", map[string]string{"key_id": id})
	wantOK(t, r)
	want := map[string]string{
		"key_id":          id,
		"domain_id":       domain,
		"key_alias":       "app/orders",
		"key_description": "orders table",
		"key_state":       "2",
		"key_spec":        "AES_256",
		"key_usage":       "ENCRYPT_DECRYPT",
	}
	for field, v := range want {
		if got := str(t, r, "key_info", field); got != v {
			t.Errorf("%s = %q, want %q", field, got, v)
		}
	}
}

func TestListKeys(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	var ids []string
	for i := range 5 {
		ids = append(ids, createKey(t, s, alias(i)))
	}
	wantOK(t, post(t, s, "disable-key", map[string]string{"key_id": ids[1]}))

	tests := []struct {
		name      string
		body      string
		keys      []string
		next      string
		truncated string
	}{
		{"all", `{}`, ids, "", "false"},
		{"first page", `{"limit":"2"}`, ids[:2], "2", "true"},
		{"second page", `{"limit":"2","marker":"2"}`, ids[2:4], "4", "true"},
		{"last page", `{"limit":2,"marker":4}`, ids[4:], "", "false"},
		{"past the end", `{"marker":"9"}`, nil, "", "false"},
		{"disabled", `{"key_state":"3"}`, ids[1:2], "", "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, s, "list-keys", tt.body)
			wantOK(t, r)
			m := obj(t, r)
			got, _ := m["keys"].([]any)
			if len(got) != len(tt.keys) {
				t.Fatalf("keys %v, want %v", got, tt.keys)
			}
			for i := range got {
				if got[i] != tt.keys[i] {
					t.Fatalf("keys %v, want %v", got, tt.keys)
				}
			}
			if m["next_marker"] != tt.next || m["truncated"] != tt.truncated {
				t.Fatalf("next_marker %v truncated %v", m["next_marker"], m["truncated"])
			}
		})
	}
}

func TestEnableDisableKey(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	id := createKey(t, s, "toggle")
	body := map[string]string{"key_id": id}

	steps := []struct {
		action string
		status int
		code   string
		state  string
	}{
		{"enable-key", 400, "KMS.1201", ""},
		{"disable-key", 200, "", "3"},
		{"disable-key", 400, "KMS.1301", ""},
		{"encrypt-data", 400, "KMS.0209", ""},
		{"create-datakey", 400, "KMS.0209", ""},
		{"enable-key", 200, "", "2"},
		{"encrypt-data", 200, "", ""},
	}
	for i, st := range steps {
		b := body
		if st.action == "encrypt-data" {
			b = map[string]string{"key_id": id, "plain_text": "x"}
		}
		r := post(t, s, st.action, b)
		if st.code != "" {
			wantCode(t, r, st.code, st.status)
			continue
		}
		wantOK(t, r)
		if got := str(t, r, "key_info", "key_state"); got != st.state {
			t.Fatalf("step %d %s: key_state %q, want %q", i, st.action, got, st.state)
		}
	}
}

func TestKeyErrors(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	createKey(t, s, "taken")
	unknown := "0d0466b0-e727-4d9c-b35d-f84bb474a37f"

	tests := []struct {
		name, action, body string
		status             int
		code               string
	}{
		{"alias missing", "create-key", `{}`, 400, "KMS.0204"},
		{"alias invalid", "create-key", `{"key_alias":"no spaces"}`, 400, "KMS.1101"},
		{"alias reserved", "create-key", `{"key_alias":"x/default"}`, 400, "KMS.1101"},
		{"alias too long", "create-key", `{"key_alias":"` + strings.Repeat("a", 256) + `"}`, 400,
			"KMS.1101"},
		{"alias taken", "create-key", `{"key_alias":"taken"}`, 400, "KMS.1104"},
		{"description too long", "create-key",
			`{"key_alias":"d","key_description":"` + strings.Repeat("d", 256) + `"}`, 400,
			"KMS.1103"},
		{"spec unserved", "create-key", `{"key_alias":"r","key_spec":"RSA_2048"}`, 400, "KMS.0308"},
		{"alias not a string", "create-key", `{"key_alias":7}`, 400, "KMS.0202"},
		{"key id missing", "describe-key", `{}`, 400, "KMS.0204"},
		{"key id malformed", "describe-key", `{"key_id":"key-1"}`, 400, "KMS.0205"},
		{"key id upper case", "describe-key", `{"key_id":"` + strings.ToUpper(unknown) + `"}`,
			400, "KMS.0205"},
		{"key unknown", "describe-key", `{"key_id":"` + unknown + `"}`, 404, "KMS.0207"},
		{"enable unknown", "enable-key", `{"key_id":"` + unknown + `"}`, 404, "KMS.0207"},
		{"disable malformed", "disable-key", `{"key_id":"x"}`, 400, "KMS.0205"},
		{"limit zero", "list-keys", `{"limit":"0"}`, 400, "KMS.1601"},
		{"limit too big", "list-keys", `{"limit":"1001"}`, 400, "KMS.1601"},
		{"limit not a number", "list-keys", `{"limit":"ten"}`, 400, "KMS.1601"},
		{"marker negative", "list-keys", `{"marker":"-1"}`, 400, "KMS.1602"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, post(t, s, tt.action, tt.body), tt.code, tt.status)
		})
	}

	if n := s.Applied("create-key"); n != 1 {
		t.Fatalf("Applied(create-key) = %d after failures, want 1", n)
	}
}
