package kmstest_test

import (
	"testing"

	"github.com/kmsretry/kmsretry/kmstest"
)

func TestTokens(t *testing.T) {
	s := kmstest.NewServer(kmstest.WithToken())
	defer s.Close()
	first := s.IssueToken()
	signed := "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=00"

	steps := []struct {
		name   string
		expire bool
		header []string
		status int
		code   string
	}{
		{"missing", false, nil, 403, "KMS.0301"},
		{"unknown", false, []string{"X-Auth-Token", "MIIforged"}, 403, "KMS.0302"},
		{"issued", false, []string{"X-Auth-Token", first}, 200, ""},
		{"expired", true, []string{"X-Auth-Token", first}, 403, "KMS.0303"},
		{"signed", false, []string{"Authorization", signed}, 200, ""},
		{"other scheme", false, []string{"Authorization", "Basic YTpi"}, 403, "KMS.0301"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.expire {
				s.ExpireTokens()
			}
			r := post(t, s, "list-keys", "{}", st.header...)
			if st.code == "" {
				wantOK(t, r)
				return
			}
			wantCode(t, r, st.code, st.status)
		})
	}

	t.Run("refreshed", func(t *testing.T) {
		fresh := s.IssueToken()
		if fresh == first {
			t.Fatal("IssueToken repeated a token")
		}
		wantOK(t, post(t, s, "list-keys", "{}", "X-Auth-Token", fresh))
		wantCode(t, post(t, s, "list-keys", "{}", "X-Auth-Token", first), "KMS.0303", 403)
	})
}

func TestTokensNotRequired(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	wantOK(t, post(t, s, "list-keys", "{}"))
	wantOK(t, post(t, s, "list-keys", "{}", "X-Auth-Token", "anything"))
}

func TestAuthFailureAppliesNothing(t *testing.T) {
	s := kmstest.NewServer(kmstest.WithToken())
	defer s.Close()

	wantCode(t, post(t, s, "create-key", `{"key_alias":"a"}`), "KMS.0301", 403)
	if s.Requests("create-key") != 1 || s.Applied("create-key") != 0 {
		t.Fatalf("stats %+v", s.Stats())
	}
}
