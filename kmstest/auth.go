package kmstest

import (
	"net/http"
	"strings"
	"sync"
)

// signedScheme starts the Authorization header of a request signed with AK/SK.
const signedScheme = "SDK-HMAC-SHA256 "

// tokenStore holds the tokens the server issued, each marked when it expires.
type tokenStore struct {
	required bool

	mu      sync.Mutex
	expired map[string]bool
}

func newTokenStore(required bool) *tokenStore {
	return &tokenStore{required: required, expired: make(map[string]bool)}
}

// IssueToken returns a new token for the X-Auth-Token header, valid until
// [Server.ExpireTokens]. Tokens are issued whether or not [WithToken] requires them.
func (s *Server) IssueToken() string {
	tok := "MII" + newHex(32)

	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	s.tokens.expired[tok] = false
	return tok
}

// ExpireTokens expires every token issued so far: requests carrying one answer KMS.0303 until
// the client presents a token issued afterwards.
func (s *Server) ExpireTokens() {
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	for tok := range s.tokens.expired {
		s.tokens.expired[tok] = true
	}
}

// check returns the error for a request whose credentials do not pass, or nil. A request
// signed with AK/SK passes unchecked; a token must be known and not expired.
func (t *tokenStore) check(h http.Header) *kmsError {
	if !t.required || strings.HasPrefix(h.Get("Authorization"), signedScheme) {
		return nil
	}

	tok := h.Get("X-Auth-Token")
	if tok == "" {
		return fail("KMS.0301")
	}

	t.mu.Lock()
	expired, known := t.expired[tok]
	t.mu.Unlock()

	switch {
	case !known:
		return fail("KMS.0302")
	case expired:
		return fail("KMS.0303")
	}
	return nil
}
