package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

// credentials is the demo's [kmsretry.Refresher]. It renews both kinds of credentials that
// KMS can call stale:
//
//   - the IAM token every request carries in X-Auth-Token (KMS.0301-0303, APIGW.0301),
//     fetched from the stand-in as a real program would fetch it from IAM's token API;
//   - the import token an import-key-material request carries in its body (KMS.2601,
//     KMS.2605), which a real program renews by calling get-parameters-for-import again.
//
// The stand-in serves no key import and checks no import token, so here a new import token
// is only a number counted up, and only a scripted KMS.2601 or KMS.2605 calls one stale.
// It is safe for concurrent use.
type credentials struct {
	iam *kmsretry.TokenRefresher

	imports atomic.Int64 // import tokens obtained, the current one's number
	tokens  atomic.Int64 // IAM tokens fetched after the first
}

// newCredentials returns credentials holding a first IAM token and a first import token.
func newCredentials(srv *kmstest.Server) *credentials {
	c := &credentials{iam: kmsretry.NewTokenRefresher(srv.IssueToken(),
		func(context.Context) (string, error) { return srv.IssueToken(), nil })}
	c.imports.Store(1)
	return c
}

// importToken returns the current import token.
func (c *credentials) importToken() string {
	return fmt.Sprintf("import-token-%d", c.imports.Load())
}

// Apply sets the current IAM token and, on a request whose JSON body has an import_token,
// puts the current import token there.
func (c *credentials) Apply(req *http.Request) error {
	if err := c.iam.Apply(req); err != nil {
		return err
	}
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}

	// The body must be read to look into it; the transport closes the one replaced here.
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	body, err = withImportToken(body, c.importToken())
	if err != nil {
		return err
	}

	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	return nil
}

// Refresh obtains a new import token for the codes of a stale one, and a new IAM token for
// the other codes of the AuthRefresh class.
func (c *credentials) Refresh(ctx context.Context, code string) error {
	if staleImport(code) {
		c.imports.Add(1)
		return nil
	}

	if err := c.iam.Refresh(ctx, code); err != nil {
		return err
	}
	c.tokens.Add(1)
	return nil
}

// staleImport reports whether code says an import token is stale or invalid.
func staleImport(code string) bool {
	return code == "KMS.2601" || code == "KMS.2605"
}

// withImportToken returns body with its import_token member set to tok, or body unchanged
// when it has no such member.
func withImportToken(body []byte, tok string) ([]byte, error) {
	if !bytes.Contains(body, []byte(`"import_token"`)) {
		return body, nil // the quick answer for the many requests that import nothing
	}

	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, fmt.Errorf("reading the import token of the request: %w", err)
	}
	if _, ok := members["import_token"]; !ok {
		return body, nil
	}
	members["import_token"], _ = json.Marshal(tok)
	return json.Marshal(members)
}
